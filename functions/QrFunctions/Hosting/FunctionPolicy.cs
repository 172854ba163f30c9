using System.Threading.RateLimiting;
using QrFunctions.Api;
using QrFunctions.Auth;

namespace QrFunctions.Hosting;

/// <summary>
/// Runs one call of an HTTP function under what it declares: the per-address limit of public lookups, then
/// credentials, team, role, the plan's rate limit and metering (<see cref="AccessPolicy"/>), then the route values
/// (every one names something, so each must be an id storage can hold), then the function; any refusal or failure
/// becomes its surface's error answer. Every answer is nosniff, and a credentialed one is never stored by a cache.
/// The Functions worker (<see cref="FunctionPolicyMiddleware"/>) and the development server (<see cref="DevelopmentServer"/>)
/// both call this, so both apply the same policy.
/// </summary>
public sealed class FunctionPolicy(AccessPolicy access, IConfiguration configuration, ILogger<FunctionPolicy> log)
{
    private readonly Scans.EdgeTrust _edge = Scans.EdgeTrust.From(configuration);

    // Per client address and per instance: enough to stop enumerating displayIds, no storage round trip.
    private readonly PartitionedRateLimiter<string> _perAddress = PartitionedRateLimiter.Create<string, string>(address =>
        RateLimitPartition.GetTokenBucketLimiter(address, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = configuration.GetValue("QrFunctions:AvailabilityBurst", 20),
            TokensPerPeriod = configuration.GetValue("QrFunctions:AvailabilityPerSecond", 10),
            ReplenishmentPeriod = TimeSpan.FromSeconds(1), QueueLimit = 0, AutoReplenishment = true,
        }));

    /// <param name="routeValue">A route value of the match that chose this function (the host's binding data, or ASP.NET Core's route values).</param>
    /// <param name="invoke">The function itself; its result is returned for the caller to execute.</param>
    public async Task<IResult?> RunAsync(HttpContext context, HttpFunction function, Func<string, string?> routeValue, Func<Task<IResult?>> invoke)
    {
        // Set first, so refusals carry them too; a function may still set its own Cache-Control (scans: private, no-store).
        context.Response.Headers.XContentTypeOptions = "nosniff";
        if (!function.Access.IsPublic) context.Response.Headers.CacheControl = "no-store";
        try
        {
            if (function.Access.LimitedPerClientAddress) LimitPerAddress(context);
            if (!function.Access.IsPublic) await access.AdmitAsync(context, function, routeValue);
            foreach (var name in function.IdParameters)
                if (!RequestJson.IsStorableId(routeValue(name)))
                    throw function.Access.AnswersPages ? ApiProblem.NotFound("There is nothing at this address.") : ApiProblem.BadRequest(RequestJson.NotAnId(name));
            return await invoke();
        }
        catch (Exception ex) when (!context.Response.HasStarted)
        {
            return ApiErrors.For(context, function.Access.Surface, ex, log, function.Access.AnswersPages);
        }
    }

    private void LimitPerAddress(HttpContext context)
    {
        var address = _edge.ClientAddress(context)?.ToString() ?? "unknown";
        using var lease = _perAddress.AttemptAcquire(address);
        if (lease.IsAcquired) return;
        var problem = new ApiProblem(429, "Too many requests from this address; retry in a second.");
        problem.Headers["Retry-After"] = "1";
        throw problem;
    }
}
