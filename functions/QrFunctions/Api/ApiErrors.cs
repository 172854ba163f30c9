using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;

namespace QrFunctions.Api;

/// <summary>Renders every refused request in its surface's envelope; nothing escapes as a bare 500.</summary>
public static class ApiErrors
{
    public static IApplicationBuilder UseApiErrors(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        try
        {
            await next(context);
        }
        catch (ApiProblem problem) when (!context.Response.HasStarted)
        {
            foreach (var (name, value) in problem.Headers) context.Response.Headers[name] = value;
            await WriteAsync(context, problem.Status, problem.Code, problem.Message);
        }
        catch (BadHttpRequestException bad) when (!context.Response.HasStarted)
        {
            // Kestrel's own refusals: body over the size limit (413), malformed request framing (400).
            var message = bad.StatusCode == 413 ? "Request body is too large." : "Malformed request: " + bad.Message;
            await WriteAsync(context, bad.StatusCode, null, message);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; there is nobody to answer.
        }
        catch (Exception ex) when (!context.Response.HasStarted && Storage.StorageFailures.IsTransient(ex))
        {
            context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("QrFunctions.Api")
                .LogWarning(ex, "Storage unavailable on {Method} {Path}", context.Request.Method, context.Request.Path);
            context.Response.Headers.RetryAfter = "1";
            await WriteAsync(context, 503, null, "The service is busy. Please retry in a moment.");
        }
        catch (Exception ex) when (!context.Response.HasStarted)
        {
            context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("QrFunctions.Api")
                .LogError(ex, "Unhandled error on {Method} {Path}", context.Request.Method, context.Request.Path);
            await WriteAsync(context, 500, "internal_error", "Internal server error.");
        }
    });

    public static ApiSurface SurfaceOf(HttpContext context) =>
        context.GetEndpoint()?.Metadata.GetMetadata<SurfaceMetadata>()?.Surface
        ?? (context.Request.Path.StartsWithSegments("/v1") ? ApiSurface.V1 : ApiSurface.QrApi);

    public static Task WriteAsync(HttpContext context, int status, string? code, string message)
    {
        context.Response.StatusCode = status;
        var surface = SurfaceOf(context);
        object body = surface == ApiSurface.V1
            ? new { error = new { code = code ?? new ApiProblem(status, message).Code, message } }
            : new { success = false, message };
        return context.Response.WriteAsJsonAsync(body, ApiJson.For(surface));
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
