using QrFunctions.Auth;
using QrFunctions.Qrs;
using QrFunctions.Rendering;
using QrFunctions.Scans;
using QrFunctions.Storage;
using QrFunctions.Webhooks;

namespace QrFunctions.Hosting;

/// <summary>The services every mode shares: the worker under the Functions host, the development server, the operator commands.</summary>
public static class AppServices
{
    public static IServiceCollection AddQrFunctions(this IServiceCollection services, IConfiguration config)
    {
        services.AddSingleton(FunctionCatalog.App);
        services.AddSingleton<FunctionPolicy>();
        services.AddSingleton<IdempotencyKeys>();
        services.AddSingleton(new StorageNames(config["Storage:Prefix"] ?? ""));
        services.AddSingleton(_ => StorageConnection.FromConfiguration(config));
        services.AddSingleton<StorageAccount>();
        services.AddMemoryCache();
        services.AddApiAccess();
        services.AddSingleton<WebhookPublisher>();
        services.AddSingleton<WebhookSecrets>();
        services.AddSingleton<QrImages>();
        services.AddSingleton<QrStore>();
        services.AddSingleton<QrListing>();
        services.AddScans();
        services.AddSingleton<Analytics.ScanBatchAggregator>(); // its counter group commit is per instance
        return services;
    }

    /// <summary>Locally the app creates its tables, queues and containers; in Azure the Bicep has (QrFunctions:CreateStorage=false).</summary>
    public static async Task PrepareStorageAsync(IServiceProvider services)
    {
        if (services.GetRequiredService<IConfiguration>().GetValue("QrFunctions:CreateStorage", true))
            await services.GetRequiredService<StorageAccount>().CreateAllAsync();
    }
}
