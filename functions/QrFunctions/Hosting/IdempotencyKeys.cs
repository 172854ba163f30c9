using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Azure;
using Azure.Data.Tables;
using QrFunctions.Api;
using QrFunctions.Storage;

namespace QrFunctions.Hosting;

/// <summary>
/// What a POST with an Idempotency-Key asked for, part by part, so a reuse of the key for another request can say what
/// differs. <see cref="Scope"/> is the caller's organization: two organizations never share a key.
/// </summary>
public sealed record IdempotentRequest(string Scope, string Key, string Method, string Target, string TeamId, string KeyId, string BodyHash)
{
    /// <summary>The key hashed: any string a client sends fits a RowKey, at a fixed length.</summary>
    public string Row => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Key)));
}

/// <summary>An answer as the function wrote it (status, the headers it set, body), written again as it was.</summary>
public sealed record RecordedAnswer(int Status, IReadOnlyList<KeyValuePair<string, string>> Headers, byte[] Body, bool Replayed = false) : IResult
{
    public async Task ExecuteAsync(HttpContext context)
    {
        var response = context.Response;
        response.StatusCode = Status;
        // Set, not appended: on the first answer the function's own headers are already there with these values.
        foreach (var group in Headers.GroupBy(h => h.Key, StringComparer.OrdinalIgnoreCase))
            response.Headers[group.Key] = group.Select(h => h.Value).ToArray();
        if (Replayed) response.Headers[IdempotencyKeys.ReplayedHeader] = "true";
        response.ContentLength = Body.Length;
        if (Body.Length > 0 && !HttpMethods.IsHead(context.Request.Method)) await response.Body.WriteAsync(Body, context.RequestAborted);
    }
}

/// <summary>
/// Stripe's Idempotency-Key for every credentialed POST, kept in the <c>idempotency</c> table (docs/storage.md): a claim row
/// is inserted before the function runs (only one request can insert it), its answer replaces the claim when it is done,
/// and for 24 hours the same request with the same key gets that answer again; another request with the key is a 422,
/// and one that comes while the first still runs a 409. Expired rows are ignored, replaced by a new claim, and swept.
/// </summary>
public sealed class IdempotencyKeys(StorageAccount storage, ILogger<IdempotencyKeys> log)
{
    public const string Header = "Idempotency-Key";
    public const string ReplayedHeader = "Idempotent-Replayed";
    public const int MaxKeyLength = 255;

    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(24);

    /// <summary>
    /// A claim older than this whose answer never came (the instance stopped mid-call) is taken over by the next request with
    /// the key; longer than any call can run (Azure's front end ends an HTTP request after 230 s).
    /// </summary>
    public static readonly TimeSpan AbandonedAfter = TimeSpan.FromMinutes(5);

    /// <summary>A keyed request's body is read into memory to hash it: at least what any function accepts (a bulk upload, with its form's framing).</summary>
    public const int MaxBodyBytes = (int)Bulk.BulkApi.MaxBodyBytes + 64 * 1024;

    /// <summary>Answers larger than this are not kept (the key is released); every POST that creates or changes something answers far less.</summary>
    public const int MaxRecordedBodyBytes = 256 * 1024;

    /// <summary>An organization's expired rows are swept at most this often per instance.</summary>
    public static readonly TimeSpan SweepEvery = TimeSpan.FromHours(1);

    private const int ChunkBytes = 64 * 1024; // Table Storage's limit for one binary property
    private const string Pending = "pending", Done = "done";
    private static readonly string[] Compared = ["Method", "Target", "TeamId", "KeyId", "BodyHash"];

    private readonly ConcurrentDictionary<string, long> _sweptAt = new();

    /// <summary>What the first step found: this request does the work under <see cref="Claimed"/>, or gets <see cref="Replay"/>.</summary>
    public sealed record Claim(ETag? Claimed, long ExpiresAt, RecordedAnswer? Replay);

    /// <summary>The header's value, or a 400 naming it (not recorded: the function never runs).</summary>
    public static string? KeyOf(HttpRequest request)
    {
        if (!request.Headers.TryGetValue(Header, out var values)) return null;
        var key = values.Count == 1 ? values[0] : null;
        return key is { Length: > 0 and <= MaxKeyLength } && key.All(c => c is >= ' ' and <= '~')
            ? key
            : throw ApiProblem.BadRequest($"{Header} must be one value of 1 to {MaxKeyLength} printable ASCII characters.");
    }

    /// <summary>Claims the key for <paramref name="request"/>, or finds the answer to replay; 409 while another runs, 422 for another request.</summary>
    public async Task<Claim> ClaimAsync(IdempotentRequest request, CancellationToken ct)
    {
        var table = storage.Idempotency;
        for (var attempt = 0; ; attempt++)
        {
            var now = Clock.NowMs();
            var claim = ClaimRow(request, now);
            try
            {
                var added = await table.AddEntityAsync(claim, ct);
                SweepNowAndThen(request.Scope, now);
                return new Claim(added.Headers.ETag, claim.GetInt64("ExpiresAt")!.Value, null);
            }
            catch (RequestFailedException ex) when (ex.Status == 409)
            {
            }
            var existing = await table.GetEntityIfExistsAsync<TableEntity>(request.Scope, request.Row, cancellationToken: ct);
            if (!existing.HasValue)
            {
                if (attempt < 3) continue; // swept or released between the two calls: claim again
                throw Busy();
            }
            var row = existing.Value!;
            var expired = row.GetInt64("ExpiresAt") <= now;
            if (!expired && Difference(row, request) is { } what)
                throw new ApiProblem(422, $"This {Header} was used in the last 24 hours for another request ({what}); send a new key for a new request.", "idempotency_key_reused");
            var abandoned = row.GetString("State") == Pending && row.GetInt64("ClaimedAt") + (long)AbandonedAfter.TotalMilliseconds <= now;
            if (!expired && !abandoned)
            {
                if (row.GetString("State") == Done) return new Claim(null, 0, Answer(row, request));
                throw Busy();
            }
            try
            {
                // Only one of the requests that found it expired or abandoned replaces it (the ETag); the others read again.
                if (abandoned && !expired) claim["ExpiresAt"] = row.GetInt64("ExpiresAt");
                var replaced = await table.UpdateEntityAsync(claim, row.ETag, TableUpdateMode.Replace, ct);
                return new Claim(replaced.Headers.ETag, claim.GetInt64("ExpiresAt")!.Value, null);
            }
            catch (RequestFailedException ex) when (ex.Status is 404 or 412)
            {
                if (attempt >= 3) throw Busy();
            }
        }
    }

    private static ApiProblem Busy()
    {
        var busy = new ApiProblem(409, $"A request with this {Header} is still being processed; retry it in a moment.", "idempotency_key_in_use");
        busy.Headers["Retry-After"] = "1";
        return busy;
    }

    /// <summary>
    /// Keeps the answer in place of the claim (one write under the claim's ETag, so a replay sees the claim or the whole answer).
    /// 5xx answers and answers over <see cref="MaxRecordedBodyBytes"/> release the key instead, so a retry runs again.
    /// The caller gets its answer whatever happens here; a failure leaves the claim to be taken over after <see cref="AbandonedAfter"/>.
    /// </summary>
    public async Task RecordAsync(IdempotentRequest request, Claim claim, RecordedAnswer answer)
    {
        if (answer.Status >= 500 || answer.Body.Length > MaxRecordedBodyBytes)
        {
            await ReleaseAsync(request, claim);
            return;
        }
        var row = ClaimRow(request, Clock.NowMs());
        row["State"] = Done;
        row["ExpiresAt"] = claim.ExpiresAt;
        row["Status"] = answer.Status;
        var headers = JsonSerializer.SerializeToUtf8Bytes(answer.Headers.Select(h => new[] { h.Key, h.Value }));
        var sealedAnswer = Seal(request, [.. headers, .. answer.Body]);
        row["HeadersLength"] = headers.Length;
        row["AnswerLength"] = sealedAnswer.Length;
        for (var i = 0; i * ChunkBytes < sealedAnswer.Length; i++)
            row[$"Answer{i}"] = sealedAnswer.AsSpan(i * ChunkBytes, Math.Min(ChunkBytes, sealedAnswer.Length - i * ChunkBytes)).ToArray();
        try
        {
            await storage.Idempotency.UpdateEntityAsync(row, claim.Claimed!.Value, TableUpdateMode.Replace, CancellationToken.None);
        }
        catch (Exception ex) when (ex is RequestFailedException || StorageFailures.IsTransient(ex))
        {
            log.LogWarning(ex, "The answer to an {Header} request of {Scope} was not recorded; its claim is taken over after {Minutes} minutes",
                Header, request.Scope, AbandonedAfter.TotalMinutes);
        }
    }

    /// <summary>Deletes the claim (under its ETag: never a later request's), so a retry with the key runs again.</summary>
    public async Task ReleaseAsync(IdempotentRequest request, Claim claim)
    {
        try
        {
            await storage.Idempotency.DeleteEntityAsync(request.Scope, request.Row, claim.Claimed!.Value, CancellationToken.None);
        }
        catch (Exception ex) when (ex is RequestFailedException || StorageFailures.IsTransient(ex))
        {
            log.LogWarning(ex, "An {Header} claim of {Scope} was not released; it is taken over after {Minutes} minutes", Header, request.Scope, AbandonedAfter.TotalMinutes);
        }
    }

    /// <summary>
    /// Deletes the expired rows of one organization (a range read of its partition, deletes of up to 100 rows per transaction,
    /// each under the ETag it was read with, so a row claimed again meanwhile stays). Returns how many went.
    /// </summary>
    public async Task<int> SweepAsync(string scope, CancellationToken ct)
    {
        var table = storage.Idempotency;
        var expired = new List<TableEntity>();
        await foreach (var row in table.QueryAsync<TableEntity>(
            TableClient.CreateQueryFilter($"PartitionKey eq {scope} and ExpiresAt le {Clock.NowMs()}"), select: ["PartitionKey", "RowKey"], cancellationToken: ct))
            expired.Add(row);
        var deleted = 0;
        foreach (var batch in expired.Chunk(100))
        {
            try
            {
                await table.SubmitTransactionAsync(batch.Select(r => new TableTransactionAction(TableTransactionActionType.Delete, r, r.ETag)), ct);
                deleted += batch.Length;
            }
            catch (TableTransactionFailedException)
            {
                // One of them was claimed again or deleted meanwhile: the rest one by one.
                foreach (var row in batch)
                {
                    try
                    {
                        await table.DeleteEntityAsync(row.PartitionKey, row.RowKey, row.ETag, ct);
                        deleted++;
                    }
                    catch (RequestFailedException ex) when (ex.Status is 404 or 412)
                    {
                    }
                }
            }
        }
        return deleted;
    }

    /// <summary>The first claim in an organization, and then one an hour, on each instance, sweeps that organization's expired rows in the background.</summary>
    private void SweepNowAndThen(string scope, long now)
    {
        var last = _sweptAt.GetOrAdd(scope, 0);
        if (now - last < SweepEvery.TotalMilliseconds || !_sweptAt.TryUpdate(scope, now, last)) return;
        _ = Task.Run(async () =>
        {
            try
            {
                await SweepAsync(scope, CancellationToken.None);
            }
            catch (Exception ex)
            {
                log.LogWarning(ex, "Sweeping expired {Header} rows of {Scope} failed; the next claim an hour later tries again", Header, scope);
            }
        });
    }

    private static TableEntity ClaimRow(IdempotentRequest request, long now) => new(request.Scope, request.Row)
    {
        ["State"] = Pending,
        ["ClaimedAt"] = now,
        ["ExpiresAt"] = now + (long)Lifetime.TotalMilliseconds,
        ["Method"] = request.Method,
        ["Target"] = request.Target,
        ["TeamId"] = request.TeamId,
        ["KeyId"] = request.KeyId,
        ["BodyHash"] = request.BodyHash,
    };

    private static string? Difference(TableEntity row, IdempotentRequest request)
    {
        var asked = new Dictionary<string, string>
        {
            ["Method"] = request.Method, ["Target"] = request.Target, ["TeamId"] = request.TeamId, ["KeyId"] = request.KeyId, ["BodyHash"] = request.BodyHash,
        };
        return Compared.FirstOrDefault(c => row.GetString(c) != asked[c]) switch
        {
            null => null,
            "Method" or "Target" => "another method or path",
            "TeamId" => "another team",
            "KeyId" => "another API key",
            _ => "another body",
        };
    }

    private static RecordedAnswer Answer(TableEntity row, IdempotentRequest request)
    {
        var length = row.GetInt32("AnswerLength") ?? 0;
        var sealedAnswer = new byte[length];
        for (var i = 0; i * ChunkBytes < length; i++) row.GetBinary($"Answer{i}").CopyTo(sealedAnswer, i * ChunkBytes);
        var answer = Open(request, sealedAnswer);
        var headersLength = row.GetInt32("HeadersLength") ?? 0;
        var headers = JsonSerializer.Deserialize<string[][]>(answer.AsSpan(0, headersLength))!.Select(h => KeyValuePair.Create(h[0], h[1])).ToList();
        return new RecordedAnswer(row.GetInt32("Status") ?? 200, headers, answer[headersLength..], Replayed: true);
    }

    // Answers can hold secrets shown once (a new API key's, a webhook's signing secret). They are sealed with AES-256-GCM under a
    // key derived from the Idempotency-Key itself, which the table holds only as its SHA-256: reading the table opens no answer.
    private const int NonceBytes = 12, TagBytes = 16;

    private static byte[] Seal(IdempotentRequest request, byte[] plaintext)
    {
        var sealedBytes = new byte[NonceBytes + plaintext.Length + TagBytes];
        RandomNumberGenerator.Fill(sealedBytes.AsSpan(0, NonceBytes));
        using var aes = new AesGcm(AnswerKey(request), TagBytes);
        aes.Encrypt(sealedBytes.AsSpan(0, NonceBytes), plaintext, sealedBytes.AsSpan(NonceBytes, plaintext.Length), sealedBytes.AsSpan(NonceBytes + plaintext.Length),
            Encoding.UTF8.GetBytes($"{request.Scope}/{request.Row}"));
        return sealedBytes;
    }

    private static byte[] Open(IdempotentRequest request, byte[] sealedBytes)
    {
        var plaintext = new byte[sealedBytes.Length - NonceBytes - TagBytes];
        using var aes = new AesGcm(AnswerKey(request), TagBytes);
        aes.Decrypt(sealedBytes.AsSpan(0, NonceBytes), sealedBytes.AsSpan(NonceBytes, plaintext.Length), sealedBytes.AsSpan(NonceBytes + plaintext.Length), plaintext,
            Encoding.UTF8.GetBytes($"{request.Scope}/{request.Row}"));
        return plaintext;
    }

    private static byte[] AnswerKey(IdempotentRequest request) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(request.Key), 32, Encoding.UTF8.GetBytes(request.Scope), "QrFunctions idempotent answer"u8.ToArray());
}
