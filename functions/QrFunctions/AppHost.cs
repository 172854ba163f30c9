using QrFunctions.Analytics;
using QrFunctions.Api;
using QrFunctions.ApiKeys;
using QrFunctions.AuditLogs;
using QrFunctions.Auth;
using QrFunctions.Hosting;
using QrFunctions.Members;
using QrFunctions.Organizations;
using QrFunctions.Qrs;
using QrFunctions.Rendering;
using QrFunctions.Scans;
using QrFunctions.Storage;
using QrFunctions.Teams;
using QrFunctions.Templates;
using QrFunctions.Usage;
using QrFunctions.Webhooks;
using QrFunctions.Workspaces;

namespace QrFunctions;

/// <summary>Service registration and the route table: the one list of endpoints Kestrel serves and function.json is generated from.</summary>
public static class AppHost
{
    /// <param name="mapEndpoints">false builds the services only (benchmarks map their own variant of a route).</param>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null, bool mapEndpoints = true)
    {
        // Content root = the executable's folder: the Functions host starts it from elsewhere.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        configure?.Invoke(builder);
        var config = builder.Configuration;

        // The Functions host tells a custom handler its port; locally PORT or 7071. Loopback only.
        var port = config["FUNCTIONS_CUSTOMHANDLER_PORT"] ?? config["PORT"] ?? "7071";
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = 8 * 1024 * 1024);

        var services = builder.Services;
        services.AddSingleton(new StorageNames(config["Storage:Prefix"] ?? ""));
        services.AddSingleton(_ => StorageConnection.FromConfiguration(config));
        services.AddSingleton<StorageAccount>();
        services.AddMemoryCache();
        services.AddApiAccess(config);
        services.AddSingleton<WebhookPublisher>();
        services.AddSingleton<QrImages>();
        services.AddSingleton<QrStore>();
        services.AddSingleton<QrListing>();
        services.AddScans();
        services.AddOpenApi(o => o.AddDocumentTransformer((doc, _, _) =>
        {
            doc.Info.Title = "QrFunctions API";
            doc.Info.Version = "v1";
            return Task.CompletedTask;
        }));
        foreach (var trigger in Triggers.All) services.AddSingleton(trigger.Handler);
        if (config.GetValue("QrFunctions:LocalQueuePolling", true)) services.AddHostedService<LocalQueuePoller>();

        var app = builder.Build();
        app.UseApiErrors();
        app.UseRateLimiter();
        if (mapEndpoints) MapEndpoints(app);
        return app;
    }

    /// <summary>Locally the app creates its tables, queues and containers; in Azure the Bicep has (QrFunctions:CreateStorage=false).</summary>
    public static async Task PrepareStorageAsync(WebApplication app)
    {
        if (app.Configuration.GetValue("QrFunctions:CreateStorage", true))
            await app.Services.GetRequiredService<StorageAccount>().CreateAllAsync();
    }

    private static void MapEndpoints(WebApplication app)
    {
        app.MapGet("/", () => Results.Json(new { service = "QrFunctions", status = "ok" }))
            .WithMetadata(new NotAFunction()).ExcludeFromDescription();
        app.MapOpenApi().WithName("OpenApiDocument");

        app.MapQrAvailability().RequireRateLimiting(AccessServices.AvailabilityPolicy);
        app.MapInviteAcceptance();
        var api = app.MapGroup("/api").RequireApiAccess(ApiSurface.QrApi);
        api.MapQrs();
        api.MapTeams();
        api.MapMembers();
        api.MapTemplates();
        api.MapAnalytics();

        var v1 = app.MapGroup("/v1").RequireApiAccess(ApiSurface.V1);
        v1.MapOrganizations();
        v1.MapWorkspaces();
        v1.MapAuditLogs();
        v1.MapUsage();
        v1.MapApiKeys();
        v1.MapWebhooks();

        if (app.Configuration.GetValue("QrFunctions:DevEndpoints", false))
            api.MapGet("/dev/outbox", async (string email, StorageAccount storage) =>
                    Envelope.Ok((await Email.EmailSender.RecentAsync(storage, email)).Select(m => new { to = m.PartitionKey, subject = m.GetString("Subject"), text = m.GetString("Text") })))
                .WithName("DevOutbox").WithTags("Development").WithSummary("Development only: mails recorded for a recipient");

        app.MapQueueInvocations(Triggers.All);
        app.MapScans(); // last: /{displayId} catches what nothing else serves
    }
}
