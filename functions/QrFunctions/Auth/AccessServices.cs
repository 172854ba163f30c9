using QrFunctions.Storage;

namespace QrFunctions.Auth;

public static class AccessServices
{
    /// <summary>Everything the access policy uses: cached tenant lookups, plans, the shared per-team rate limiter, metering.</summary>
    public static IServiceCollection AddApiAccess(this IServiceCollection services)
    {
        services.AddSingleton<TenantDirectory>();
        services.AddSingleton<PlanCatalog>();
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(sp => new TeamRateLimiter(
            sp.GetRequiredService<StorageAccount>().Table(sp.GetRequiredService<StorageNames>().RateLimits), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<Usage.UsageMeter>();
        services.AddHostedService(sp => sp.GetRequiredService<Usage.UsageMeter>());
        services.AddSingleton<AccessPolicy>();
        return services;
    }
}
