using Microsoft.AspNetCore.Http.Features;

namespace QrFunctions.Api;

/// <summary>Turns every refusal and failure into its surface's envelope; nothing escapes as a bare 500.</summary>
public static class ApiErrors
{
    /// <summary>
    /// The answer for an exception a function (or its policy) threw: 4xx for refusals, 503 with Retry-After when
    /// storage is down, throttling or does not answer, 500 only for a bug; null when the client went away.
    /// </summary>
    public static IResult? For(HttpContext context, ApiSurface surface, Exception exception, ILogger log)
    {
        switch (exception)
        {
            case ApiProblem problem:
                foreach (var (name, value) in problem.Headers) context.Response.Headers[name] = value;
                return Envelope(surface, problem.Status, problem.Code, problem.Message);
            case BadHttpRequestException bad:
                // Kestrel's own refusals: body over the size limit (413), malformed request framing (400).
                return Envelope(surface, bad.StatusCode, null, bad.StatusCode == 413 ? "Request body is too large." : "Malformed request: " + bad.Message);
            case OperationCanceledException when context.RequestAborted.IsCancellationRequested:
                return null; // the client went away; there is nobody to answer
            case var _ when Storage.StorageFailures.IsTransient(exception):
                log.LogWarning(exception, "Storage unavailable on {Method} {Path}", context.Request.Method, context.Request.Path);
                context.Response.Headers.RetryAfter = "1";
                return Envelope(surface, 503, null, "The service is busy. Please retry in a moment.");
            default:
                log.LogError(exception, "Unhandled error on {Method} {Path}", context.Request.Method, context.Request.Path);
                return Envelope(surface, 500, "internal_error", "Internal server error.");
        }
    }

    /// <summary>Surface A: {"success":false,"message"}; surface B: {"error":{"code","message"}}.</summary>
    public static IResult Envelope(ApiSurface surface, int status, string? code, string message)
    {
        object body = surface == ApiSurface.V1
            ? new { error = new { code = code ?? new ApiProblem(status, message).Code, message } }
            : new { success = false, message };
        return Results.Json(body, ApiJson.For(surface), statusCode: status);
    }

    /// <summary>Largest request body accepted (QR JSON with menus/galleries fits easily; images have their own limit).</summary>
    public const long MaxJsonBodyBytes = 256 * 1024;

    public static void LimitBody(HttpContext context, long maxBytes)
    {
        var feature = context.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (feature is { IsReadOnly: false }) feature.MaxRequestBodySize = maxBytes;
        if (context.Request.ContentLength > maxBytes) throw new ApiProblem(413, $"Request body is larger than {maxBytes / 1024} KB.");
    }
}
