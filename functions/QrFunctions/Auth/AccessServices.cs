using System.Threading.RateLimiting;
using QrFunctions.Api;
using QrFunctions.Storage;

namespace QrFunctions.Auth;

public static class AccessServices
{
    public const string AvailabilityPolicy = "availability";

    /// <summary>Everything the access filter uses: cached tenant lookups, plans, the shared per-team rate limiter, metering.</summary>
    public static IServiceCollection AddApiAccess(this IServiceCollection services, IConfiguration config)
    {
        services.AddSingleton<TenantDirectory>();
        services.AddSingleton<PlanCatalog>();
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(sp => new TeamRateLimiter(
            sp.GetRequiredService<StorageAccount>().Table(sp.GetRequiredService<StorageNames>().RateLimits), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<Usage.UsageMeter>();
        services.AddHostedService(sp => sp.GetRequiredService<Usage.UsageMeter>());
        services.AddSingleton<AccessFilter>();
        services.AddRateLimiter(o =>
        {
            // The public availability check is limited per client address (per instance) so displayIds cannot be enumerated.
            var trustedHops = Scans.ScanRequest.TrustedHops(config);
            o.AddPolicy(AvailabilityPolicy, context => RateLimitPartition.GetTokenBucketLimiter(
                Scans.ScanRequest.ClientAddress(context, trustedHops)?.ToString() ?? "unknown",
                _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = config.GetValue("QrFunctions:AvailabilityBurst", 20),
                    TokensPerPeriod = config.GetValue("QrFunctions:AvailabilityPerSecond", 10),
                    ReplenishmentPeriod = TimeSpan.FromSeconds(1), QueueLimit = 0, AutoReplenishment = true,
                }));
            o.OnRejected = (rejected, _) =>
            {
                rejected.HttpContext.Response.Headers.RetryAfter = "1";
                return new ValueTask(ApiErrors.WriteAsync(rejected.HttpContext, 429, "rate_limited", "Too many availability checks from this address; retry in a second."));
            };
        });
        return services;
    }
}
