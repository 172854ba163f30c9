using System.Collections.Concurrent;
using Azure;
using Azure.Data.Tables;
using QrFunctions.Storage;

namespace QrFunctions.Auth;

/// <summary>What the limiter decided, and what the X-RateLimit-* headers say.</summary>
public sealed record RateDecision(bool Admitted, int Limit, int Remaining, long ResetUnixSeconds, int RetryAfterSeconds);

/// <summary>
/// Per-team token bucket (capacity = the plan's burst, refill = requests per second) shared by every
/// instance through one row of the ratelimits table (PartitionKey = teamId, RowKey = "bucket"). An instance
/// does not touch the row per request: it takes a slice of tokens (about a tenth of a second's worth) with
/// an ETag-checked write and admits locally until the slice is used. Tokens are counted against the shared
/// bucket when they are taken, so instances together never admit more than the bucket gives; the tolerance
/// is clock skew between instances × rate (refill is computed from each writer's clock), and unused slice
/// tokens expire after a second (under-admission, never over). When the shared bucket is empty the instance
/// remembers until when, so calls rejected in that time cost no storage at all.
/// </summary>
public sealed class TeamRateLimiter(TableClient table, TimeProvider time)
{
    private static readonly TimeSpan SliceLifetime = TimeSpan.FromSeconds(1);
    private readonly ConcurrentDictionary<string, LocalBucket> _teams = new();

    private sealed class LocalBucket
    {
        public readonly SemaphoreSlim Gate = new(1, 1);
        public double Tokens;
        public long SliceExpiresMs;
        public long EmptyUntilMs;
        public double SharedTokensSeen;
    }

    public async Task<RateDecision> AcquireAsync(string teamId, double ratePerSecond, double burst, CancellationToken ct = default)
    {
        var limit = (int)Math.Max(1, Math.Floor(burst));
        var local = _teams.GetOrAdd(teamId, _ => new LocalBucket());
        await local.Gate.WaitAsync(ct);
        try
        {
            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            if (local.SliceExpiresMs <= now) local.Tokens = 0;
            if (local.Tokens < 1 && local.EmptyUntilMs <= now) await LeaseAsync(teamId, local, ratePerSecond, burst, now, ct);
            var admitted = local.Tokens >= 1;
            if (admitted) local.Tokens -= 1;
            var remaining = (int)Math.Max(0, Math.Floor(local.Tokens + local.SharedTokensSeen));
            var secondsToFull = (burst - remaining) / ratePerSecond;
            var retryAfter = admitted ? 0 : (int)Math.Max(1, Math.Ceiling((Math.Max(local.EmptyUntilMs, now + 1) - now) / 1000.0));
            return new RateDecision(admitted, limit, remaining, (now + (long)(secondsToFull * 1000)) / 1000 + 1, retryAfter);
        }
        finally
        {
            local.Gate.Release();
        }
    }

    private async Task LeaseAsync(string teamId, LocalBucket local, double rate, double burst, long now, CancellationToken ct)
    {
        var slice = Math.Max(1, Math.Ceiling(rate / 10));
        for (var attempt = 0; attempt < 10; attempt++)
        {
            var existing = await table.GetEntityIfExistsAsync<TableEntity>(teamId, "bucket", cancellationToken: ct);
            double tokens;
            ETag etag = default;
            if (existing.HasValue)
            {
                var row = existing.Value!;
                var elapsed = Math.Max(0, now - (row.GetInt64("UpdatedAt") ?? now)) / 1000.0;
                tokens = Math.Min(burst, (row.GetDouble("Tokens") ?? burst) + elapsed * rate);
                etag = row.ETag;
            }
            else
            {
                tokens = burst;
            }
            var take = Math.Min(slice, Math.Floor(tokens));
            if (take < 1)
            {
                // Empty: nobody on this instance asks storage again until a token has refilled.
                local.EmptyUntilMs = now + (long)Math.Ceiling((1 - tokens) / rate * 1000);
                local.SharedTokensSeen = 0;
                return;
            }
            var updated = new TableEntity(teamId, "bucket") { ["Tokens"] = tokens - take, ["UpdatedAt"] = now };
            try
            {
                if (existing.HasValue) await table.UpdateEntityAsync(updated, etag, TableUpdateMode.Replace, ct);
                else await table.AddEntityAsync(updated, ct);
                local.Tokens += take;
                local.SliceExpiresMs = now + (long)SliceLifetime.TotalMilliseconds;
                local.SharedTokensSeen = tokens - take;
                return;
            }
            catch (RequestFailedException ex) when (ex.Status is 409 or 412)
            {
                // Another instance took tokens at the same moment: read the bucket again.
            }
        }
    }
}
