using Microsoft.AspNetCore.Http.Features;

namespace QrFunctions.Api;

/// <summary>Turns every refusal and failure into its surface's envelope (or a page); nothing escapes as a bare 500.</summary>
public static class ApiErrors
{
    /// <summary>
    /// The answer for an exception a function (or its policy) threw: 4xx for refusals, 503 with Retry-After when
    /// storage is down, throttling or does not answer, 500 only for a bug; null when the client went away.
    /// </summary>
    /// <param name="page">The function answers browsers with HTML pages: so is the refusal, with the scan pages' headers.</param>
    public static IResult? For(HttpContext context, ApiSurface surface, Exception exception, ILogger log, bool page = false)
    {
        IResult Answer(int status, string? code, string message) => page ? Page(context, status, message) : Envelope(surface, status, code, message);
        switch (exception)
        {
            case ApiProblem problem:
                foreach (var (name, value) in problem.Headers) context.Response.Headers[name] = value;
                return Answer(problem.Status, problem.Code, problem.Message);
            case BadHttpRequestException bad:
                // Kestrel's own refusals: body over the size limit (413), malformed request framing (400).
                return Answer(bad.StatusCode, null, bad.StatusCode == 413 ? "Request body is too large." : "Malformed request: " + bad.Message);
            case OperationCanceledException when context.RequestAborted.IsCancellationRequested:
                return null; // the client went away; there is nobody to answer
            case var _ when Storage.StorageFailures.IsTransient(exception):
                log.LogWarning(exception, "Storage unavailable on {Method} {Path}", context.Request.Method, context.Request.Path);
                context.Response.Headers.RetryAfter = "1";
                return Answer(503, null, "The service is busy. Please retry in a moment.");
            default:
                log.LogError(exception, "Unhandled error on {Method} {Path}", context.Request.Method, context.Request.Path);
                return Answer(500, "internal_error", "Internal server error.");
        }
    }

    /// <summary>A refusal as a page: the scan pages' layout and headers (no scripts, no framing, not cached, no referrer).</summary>
    private static IResult Page(HttpContext context, int status, string message)
    {
        Scans.ScanPages.SetHeaders(context.Response.Headers);
        var title = status switch { 404 => "Not found", 413 => "Too large", 429 => "Too many requests", >= 500 => "Try again", _ => "Not accepted" };
        return Results.Content(Scans.ScanPages.Message(title, message), "text/html; charset=utf-8", statusCode: status);
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
