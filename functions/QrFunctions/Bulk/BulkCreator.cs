using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure;
using Azure.Data.Tables;
using Microsoft.Azure.Functions.Worker;
using QrFunctions.Api;
using QrFunctions.Auth;
using QrFunctions.Qrs;
using QrFunctions.Storage;
using QrFunctions.Webhooks;

namespace QrFunctions.Bulk;

/// <summary>
/// Queue function CreateBulkCodes (bulk-create): a message names rows [first, first + count) of a batch. One covering more than
/// <see cref="ChunkSize"/> rows is split into chunk messages (the API queues one per batch, so its request never waits on
/// 100 sends); a chunk creates its pending rows one by one through <see cref="QrStore.CreateAsync"/>, images included, as the
/// key that sent the batch (its role at acceptance decides approval), and records each outcome on the row.
/// Every step may run twice (a redelivered message, a crash, the same chunk queued twice by a repeated split): a row's code id
/// and displayIds derive from the batch, so a second attempt finds the first's code (<see cref="BulkItem"/>); a refused row
/// (displayId taken meanwhile, plan limit, team archived) fails alone with the reason; a storage outage leaves the row pending
/// and the message is retried after the other rows were tried.
/// </summary>
public sealed class BulkCreator(StorageAccount storage, QrStore store, TenantDirectory directory, WebhookSecrets secrets, ILogger<BulkCreator> log)
{
    /// <summary>Rows per message: a chunk takes about a second, well inside the queue's visibility timeout.</summary>
    public const int ChunkSize = 10;

    [Function("CreateBulkCodes")]
    public async Task CreateAsync([QueueTrigger("bulk-create")] string message, CancellationToken ct)
    {
        var work = JsonSerializer.Deserialize<BulkWork>(message) ?? throw new FormatException("Empty bulk-create message.");
        if (!RequestJson.IsStorableId(work.BatchId) || work.First < 0 || work.Count < 1 || work.First + work.Count > BulkRows.MaxItems)
        {
            log.LogError("Bulk-create message names no batch rows: {Message}", message);
            return;
        }
        var table = storage.Table(storage.Names.BulkBatches);
        var header = await table.GetEntityIfExistsAsync<TableEntity>(work.BatchId, BulkRows.Header, cancellationToken: ct);
        if (!header.HasValue)
        {
            log.LogError("Bulk-create message for batch {Batch}, which does not exist", work.BatchId);
            return;
        }
        if (work.Count > ChunkSize)
        {
            var queue = storage.Queue(storage.Names.BulkCreateQueue);
            await Task.WhenAll(Enumerable.Range(0, (work.Count + ChunkSize - 1) / ChunkSize).Select(i => queue.SendMessageAsync(JsonSerializer.Serialize(
                new BulkWork(work.BatchId, work.First + i * ChunkSize, Math.Min(ChunkSize, work.Count - i * ChunkSize))), ct)));
            return;
        }

        var filter = TableClient.CreateQueryFilter(
            $"PartitionKey eq {work.BatchId} and RowKey ge {BulkRows.Item(work.First)} and RowKey lt {BulkRows.Item(work.First + work.Count)}");
        var pending = new List<TableEntity>();
        await foreach (var row in table.QueryAsync<TableEntity>(filter, cancellationToken: ct))
            if (row.GetString("State") == BulkRows.States.Pending) pending.Add(row);
        if (pending.Count == 0) return;

        var (caller, refusal) = await CallerAsync(header.Value!);
        ExceptionDispatchInfo? retry = null;
        foreach (var row in pending)
        {
            var index = BulkRows.IndexOf(row.RowKey);
            try
            {
                if (caller is null) throw ApiProblem.BadRequest(refusal!);
                var request = EntityJson.Read(row, "Request")!;
                if (row.GetString("SealedPassword") is { } sealedPassword && request["settings"] is JsonObject settings)
                    settings["password"] = secrets.Open(caller.TeamId, BulkRows.PasswordContext(work.BatchId, index), sealedPassword);
                var created = await store.CreateAsync(caller, request, ct, new BulkItem(work.BatchId, index));
                await RecordAsync(table, row, new()
                {
                    ["State"] = BulkRows.States.Done, ["DisplayId"] = created.DisplayId, ["ScanUrl"] = created.Doc["scanUrl"]?.GetValue<string>(),
                    ["ImageUrl"] = created.Doc["qrImageUrl"]?.GetValue<string>(),
                }, ct);
            }
            catch (Exception ex) when (StorageFailures.IsTransient(ex) || (ex is ApiProblem { Status: 503 }))
            {
                log.LogWarning(ex, "Bulk batch {Batch} row {Row}: storage unavailable; the message will be retried", work.BatchId, index + 1);
                retry ??= ExceptionDispatchInfo.Capture(ex);
            }
            catch (Exception ex)
            {
                // Refused (the reason is the API's own message) or a fault of this row alone: it fails, the others go on.
                var reason = ex switch
                {
                    ApiProblem problem => problem.Message,
                    CryptographicException => "The code's password could not be read back (the service's secret key changed); create this code again.",
                    _ => "The code could not be created (internal error).",
                };
                if (ex is not ApiProblem) log.LogError(ex, "Bulk batch {Batch} row {Row} failed", work.BatchId, index + 1);
                await RecordAsync(table, row, new() { ["State"] = BulkRows.States.Failed, ["Error"] = reason, ["Field"] = ex is ApiProblem ? BulkApi.FieldOf(reason) : null }, ct);
            }
        }
        retry?.Throw();
    }

    /// <summary>
    /// The outcome replaces the row (its definition and sealed password are no longer needed) unless another attempt recorded
    /// one first: a done row is never turned into a failed one.
    /// </summary>
    private static async Task RecordAsync(TableClient table, TableEntity row, TableEntity outcome, CancellationToken ct)
    {
        outcome.PartitionKey = row.PartitionKey;
        outcome.RowKey = row.RowKey;
        outcome["QrId"] = row.GetString("QrId");
        outcome["DoneAt"] = Clock.NowMs();
        foreach (var empty in outcome.Where(p => p.Value is null).Select(p => p.Key).ToList()) outcome.Remove(empty);
        try
        {
            await table.UpdateEntityAsync(outcome, row.ETag, TableUpdateMode.Replace, ct);
        }
        catch (RequestFailedException ex) when (ex.Status == 412)
        {
            var current = await table.GetEntityAsync<TableEntity>(row.PartitionKey, row.RowKey, ["State"], ct);
            if (current.Value.GetString("State") == BulkRows.States.Pending) throw; // cannot be: only outcomes replace a row
        }
    }

    /// <summary>The sender as it is now: the organization and team must still exist; the role and key are the ones that sent the batch.</summary>
    private async Task<(Caller? Caller, string? Refusal)> CallerAsync(TableEntity header)
    {
        var org = await directory.OrgAsync(header.GetString("OrgId") ?? "");
        var team = await directory.TeamAsync(header.GetString("TeamId") ?? "");
        if (org is null || org.Deleted) return (null, "The organization was deleted before this code was created.");
        if (team is null || team.Archived) return (null, "The workspace was archived before this code was created.");
        var key = new ApiKey
        {
            PartitionKey = header.GetString("KeyId") ?? "", OrgId = org.Id, HomeTeamId = team.Id,
            Scope = header.GetString("KeyScope") ?? KeyScopes.User, UserEmail = header.GetString("UserEmail"),
        };
        return (new Caller(key, org, team, Roles.Parse(header.GetString("Role")) ?? Role.Editor), null);
    }
}
