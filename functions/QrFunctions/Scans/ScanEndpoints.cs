using Microsoft.Extensions.DependencyInjection.Extensions;

namespace QrFunctions.Scans;

/// <summary>
/// GET/HEAD /{displayId} (the scan), POST /{displayId}/unlock (password form). Mapped last: every other route wins.
/// The unlock form has its own path so that no public POST function matches /{FunctionName}, the path the
/// Functions host posts queue invocations to: outsiders cannot reach the queue adapter through a proxied request.
/// </summary>
public static class ScanEndpoints
{
    public static IServiceCollection AddScans(this IServiceCollection services)
    {
        services.AddSingleton<ScanRoutes>();
        services.AddSingleton<GeoLocator>();
        services.AddSingleton<VisitorSalt>();
        services.AddSingleton<ScanEventBatcher>();
        services.AddHostedService(sp => sp.GetRequiredService<ScanEventBatcher>());
        services.TryAddSingleton<IScanClientClassifier, DeviceClassifier>();
        services.AddSingleton<ScanHandler>();
        return services;
    }

    public static void MapScans(this IEndpointRouteBuilder app)
    {
        app.MapMethods("/{displayId}", [HttpMethods.Get, HttpMethods.Head],
                (HttpContext context, string displayId, ScanHandler scans) => scans.ServeAsync(context, displayId, submittedPassword: null))
            .WithName("Scan").WithTags("Scans");
        app.MapPost("/{displayId}/unlock", UnlockAsync).WithName("ScanUnlock").WithTags("Scans").DisableAntiforgery();
    }

    /// <summary>The password form posts here (application/x-www-form-urlencoded, field "password").</summary>
    private static async Task UnlockAsync(HttpContext context, string displayId, ScanHandler scans)
    {
        var password = "";
        Api.ApiErrors.LimitBody(context, 16 * 1024);
        if (context.Request.HasFormContentType)
        {
            try
            {
                var form = await context.Request.ReadFormAsync(context.RequestAborted);
                password = form["password"].ToString();
            }
            catch (InvalidDataException)
            {
                password = "";
            }
        }
        await scans.ServeAsync(context, displayId, password);
    }
}
