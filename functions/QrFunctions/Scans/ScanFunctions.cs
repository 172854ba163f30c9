using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.DependencyInjection.Extensions;
using QrFunctions.Auth;

namespace QrFunctions.Scans;

/// <summary>
/// GET/HEAD /{displayId} (the scan) and POST /{displayId}/unlock (the password form): public, no credentials.
/// "Scan" sorts after every function whose route could also match one segment, so under the host's first-match
/// order it only gets what nothing else serves; displayIds equal to a reserved first segment are refused on create.
/// </summary>
[Public, AnswersPages, Tags("Scans")]
public sealed class ScanFunctions(ScanHandler scans)
{
    [Function("Scan")]
    [EndpointSummary("Scan a code: redirect, landing page, or the page that says why not")]
    public async Task<IResult> ScanAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", "head", Route = "{displayId}")] HttpRequest req, string displayId)
    {
        await scans.ServeAsync(req.HttpContext, displayId, submittedPassword: null);
        return Results.Empty; // ServeAsync wrote the answer
    }

    /// <summary>The password form posts here (application/x-www-form-urlencoded, field "password").</summary>
    // Per client address, like the availability check: each guess costs a PBKDF2 derivation, so guessing is throttled too.
    [Function("ScanUnlock"), LimitedPerClientAddress]
    [EndpointSummary("Unlock a password-protected code")]
    public async Task<IResult> UnlockAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "{displayId}/unlock")] HttpRequest req, string displayId)
    {
        var password = "";
        Api.ApiErrors.LimitBody(req.HttpContext, 16 * 1024);
        if (req.HasFormContentType) password = (await Api.RequestJson.ReadFormAsync(req.HttpContext))["password"].ToString();
        await scans.ServeAsync(req.HttpContext, displayId, password);
        return Results.Empty;
    }

    /// <summary>
    /// The forms of a scan's steps (age, location, lead: docs/scans.md#scan-flow) post here (application/x-www-form-urlencoded,
    /// field "scan" = the token of the recorded scan, "step", and the step's fields). Limited per client address, as every form is.
    /// </summary>
    [Function("ScanContinue"), LimitedPerClientAddress]
    [EndpointSummary("A step of a scan: age confirmation, location consent, lead form")]
    public async Task<IResult> ContinueAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "{displayId}/continue")] HttpRequest req, string displayId)
    {
        Api.ApiErrors.LimitBody(req.HttpContext, 32 * 1024);
        var form = req.HasFormContentType ? await Api.RequestJson.ReadFormAsync(req.HttpContext) : FormCollection.Empty;
        await scans.ContinueAsync(req.HttpContext, displayId, form);
        return Results.Empty;
    }
}

public static class ScanServices
{
    public static IServiceCollection AddScans(this IServiceCollection services)
    {
        services.AddSingleton<ScanRoutes>();
        services.AddSingleton<GeoLocator>();
        services.AddSingleton<VisitorSalt>();
        services.AddSingleton<ScanTokens>();
        services.AddSingleton<Leads.LeadStore>();
        services.AddSingleton<ScanEventBatcher>();
        services.AddHostedService(sp => sp.GetRequiredService<ScanEventBatcher>());
        services.TryAddSingleton<IScanClientClassifier, DeviceClassifier>();
        services.AddSingleton<ScanHandler>();
        return services;
    }
}
