using System.Security.Cryptography;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http.Features;
using QrFunctions.Api;
using QrFunctions.Auth;

namespace QrFunctions.Hosting;

/// <summary>
/// Runs one call of an HTTP function under what it declares: the per-address limit of public lookups, then
/// credentials, team, role, the plan's rate limit and metering (<see cref="AccessPolicy"/>), then the route values
/// (every one names something, so each must be an id storage can hold), then the function; any refusal or failure
/// becomes its surface's error answer. Every answer is nosniff, and a credentialed one is never stored by a cache.
/// A credentialed POST with an Idempotency-Key runs at most once per key (<see cref="IdempotencyKeys"/>): its answer is
/// written into memory first, kept, and replayed to a retry.
/// The Functions worker (<see cref="FunctionPolicyMiddleware"/>) and the development server (<see cref="DevelopmentServer"/>)
/// both call this, so both apply the same policy.
/// </summary>
public sealed class FunctionPolicy(AccessPolicy access, IdempotencyKeys idempotency, IConfiguration configuration, ILogger<FunctionPolicy> log)
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
            // Public POSTs (accepting an invitation, unlocking a code) have no organization to scope a key to: it is ignored there.
            if (HttpMethods.IsPost(context.Request.Method) && !function.Access.IsPublic && IdempotencyKeys.KeyOf(context.Request) is { } key)
                return await RunOnceAsync(context, function, key, invoke);
            return await invoke();
        }
        catch (Exception ex) when (!context.Response.HasStarted)
        {
            return ApiErrors.For(context, function.Access.Surface, ex, log, function.Access.AnswersPages);
        }
    }

    /// <summary>
    /// The function under an Idempotency-Key: the body is read once and hashed (and handed to the function from memory), the
    /// key claimed or its answer replayed, the function run and its answer captured, kept and then written.
    /// </summary>
    private async Task<IResult?> RunOnceAsync(HttpContext context, HttpFunction function, string key, Func<Task<IResult?>> invoke)
    {
        var caller = context.Caller();
        var request = new IdempotentRequest(caller.IsOperator ? "operators" : caller.OrgId, key, context.Request.Method,
            context.Request.Path.Value + context.Request.QueryString.Value, caller.TeamId, caller.KeyId, await BufferBodyAsync(context));
        var claim = await idempotency.ClaimAsync(request, context.RequestAborted);
        if (claim.Replay is { } replay) return replay;
        RecordedAnswer? answer;
        try
        {
            answer = await CaptureAsync(context, function, invoke);
        }
        catch
        {
            await idempotency.ReleaseAsync(request, claim);
            throw;
        }
        if (answer is null) await idempotency.ReleaseAsync(request, claim); // the client went away mid-call: a retry runs again
        else await idempotency.RecordAsync(request, claim, answer);
        return answer;
    }

    /// <summary>Reads the whole body once, up to <see cref="IdempotencyKeys.MaxBodyBytes"/>, and leaves it in memory for the function; its SHA-256.</summary>
    private static async Task<string> BufferBodyAsync(HttpContext context)
    {
        ApiErrors.LimitBody(context, IdempotencyKeys.MaxBodyBytes);
        var buffer = new MemoryStream();
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var block = new byte[16 * 1024];
        int read;
        while ((read = await context.Request.Body.ReadAsync(block, context.RequestAborted)) > 0)
        {
            if (buffer.Length + read > IdempotencyKeys.MaxBodyBytes) throw new ApiProblem(413, $"Request body is larger than {IdempotencyKeys.MaxBodyBytes / 1024} KB.");
            buffer.Write(block, 0, read);
            hash.AppendData(block, 0, read);
        }
        buffer.Position = 0;
        context.Request.Body = buffer;
        context.Response.RegisterForDispose(buffer);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    // Written by the server or the transport, not by the function: never part of a recorded answer.
    private static readonly HashSet<string> Unrecorded = new(StringComparer.OrdinalIgnoreCase) { "Content-Length", "Transfer-Encoding", "Date", "Server" };

    /// <summary>
    /// Runs the function and executes its result (or its refusal) into memory instead of the response: the status, the headers
    /// it added or changed, and the body, as <see cref="RecordedAnswer"/>; null when the client went away. The status and headers
    /// are set on the real response already; the answer sets them again and writes the body.
    /// </summary>
    private async Task<RecordedAnswer?> CaptureAsync(HttpContext context, HttpFunction function, Func<Task<IResult?>> invoke)
    {
        var headersBefore = context.Response.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
        IResult? result;
        try
        {
            result = await invoke();
        }
        catch (Exception ex) when (!context.Response.HasStarted)
        {
            result = ApiErrors.For(context, function.Access.Surface, ex, log, function.Access.AnswersPages);
        }
        if (result is null) return null;
        var response = context.Features.Get<IHttpResponseBodyFeature>()!;
        using var body = new MemoryStream();
        var capture = new StreamResponseBodyFeature(body);
        context.Features.Set<IHttpResponseBodyFeature>(capture);
        try
        {
            await result.ExecuteAsync(context);
            await capture.CompleteAsync();
        }
        finally
        {
            context.Features.Set(response);
        }
        var headers = context.Response.Headers
            .Where(h => !Unrecorded.Contains(h.Key) && !(headersBefore.TryGetValue(h.Key, out var before) && before == h.Value.ToString()))
            .SelectMany(h => h.Value.Select(v => KeyValuePair.Create(h.Key, v ?? ""))).ToList();
        return new RecordedAnswer(context.Response.StatusCode, headers, body.ToArray());
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
