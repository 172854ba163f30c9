using System.Text.Json;
using System.Text.RegularExpressions;
using Azure;
using Azure.Data.Tables;
using QrFunctions.Hosting;
using QrFunctions.Scans;
using QrFunctions.Storage;

namespace QrFunctions.Analytics;

/// <summary>
/// Queue trigger "AggregateScans": turns one scan batch into detailed event rows, unique-visitor
/// sightings and counters. Every step is idempotent per batch id, so a message redelivered after a
/// crash at any point is counted exactly once:
///   1. event rows: deterministic keys, upserted;
///   2. visitor sightings: insert-if-absent, "new" means FirstBatch == this batch;
///   3. counters: per code ONE transaction that updates total and day rows (ETag-checked) and adds the
///      marker "applied|{batchId}"; if the marker exists the message was already counted.
/// Counter rows get one transaction per message and code, not one write per scan (see docs/scans.md).
/// </summary>
public sealed partial class ScanBatchAggregator(StorageAccount storage, Webhooks.WebhookPublisher webhooks, ILogger<ScanBatchAggregator> log) : IQueueMessageHandler
{
    private const int MaxCounterAttempts = 40;

    private readonly TableClient _events = storage.Table(storage.Names.ScanEvents);
    private readonly TableClient _stats = storage.Table(storage.Names.ScanStats);
    // One counter transaction per code at a time on this instance: fewer ETag conflicts between its own messages.
    private readonly SemaphoreSlim[] _codeLocks = Enumerable.Range(0, 64).Select(_ => new SemaphoreSlim(1, 1)).ToArray();

    [GeneratedRegex("^[0-9a-f]{32}$")]
    private static partial Regex BatchIdPattern();

    public async Task HandleAsync(QueueMessage message, CancellationToken ct)
    {
        var batch = Parse(message.Body);
        await Task.WhenAll(batch.Events.Select((e, i) => (Event: e, Index: i)).GroupBy(x => x.Event.QrId)
            .Select(code => AggregateCodeAsync(batch.BatchId, code.Key, code.ToList(), ct)));
        log.LogDebug("Aggregated scan batch {BatchId}: {Count} events", batch.BatchId, batch.Events.Count);
        // scans.recorded goes out per batch and team (a redelivered batch may notify twice; the batch id lets receivers deduplicate).
        foreach (var team in batch.Events.GroupBy(e => e.TeamId))
            await webhooks.PublishAsync(team.Key, "scans.recorded", new System.Text.Json.Nodes.JsonObject
            {
                ["batch_id"] = batch.BatchId,
                ["scans"] = new System.Text.Json.Nodes.JsonArray(team.GroupBy(e => e.QrId)
                    .Select(q => (System.Text.Json.Nodes.JsonNode)new System.Text.Json.Nodes.JsonObject { ["qr_id"] = q.Key, ["count"] = q.Count() }).ToArray()),
            }, ct);
    }

    /// <summary>A message that is not a well-formed batch throws: retried, then moved to the poison queue for a person to look at.</summary>
    public static ScanBatch Parse(string body)
    {
        ScanBatch? batch;
        try
        {
            batch = JsonSerializer.Deserialize<ScanBatch>(body, ScanBatch.Json);
        }
        catch (JsonException ex)
        {
            throw new FormatException("Scan batch message is not JSON: " + ex.Message, ex);
        }
        if (batch is null || !BatchIdPattern().IsMatch(batch.BatchId ?? "")) throw new FormatException("Scan batch message has no valid batchId.");
        if (batch.EventsGzip is not null) batch = batch with { Events = ScanBatch.Decompress(batch.EventsGzip), EventsGzip = null };
        if (batch.Events is null || batch.Events.Count > ScanEventBatcher.MaxEventsPerMessage) throw new FormatException("Scan batch message has no events array (or too many).");
        foreach (var e in batch.Events)
        {
            if (e is null || !ScanStatRows.IsKeySafe(e.QrId) || !ScanStatRows.IsKeySafe(e.TeamId) || e.ScanTime <= 0 || e.ScanTime > 9_000_000_000_000L)
                throw new FormatException("Scan batch message has an event without a valid qrId, teamId or scanTime.");
        }
        return batch;
    }

    private async Task AggregateCodeAsync(string batchId, string qrId, List<(ScanEvent Event, int Index)> scans, CancellationToken ct)
    {
        await WriteEventRowsAsync(batchId, qrId, scans, ct);
        var newVisitors = await CountNewVisitorsAsync(batchId, qrId, scans.Select(s => s.Event).ToList(), ct);
        var gate = _codeLocks[(int)((uint)qrId.GetHashCode() % (uint)_codeLocks.Length)];
        await gate.WaitAsync(ct);
        try
        {
            await ApplyCountersAsync(batchId, qrId, scans.Select(s => s.Event).ToList(), newVisitors, ct);
        }
        finally
        {
            gate.Release();
        }
    }

    private async Task WriteEventRowsAsync(string batchId, string qrId, List<(ScanEvent Event, int Index)> scans, CancellationToken ct)
    {
        foreach (var day in scans.GroupBy(s => ScanStatRows.DayOf(s.Event.ScanTime)))
        {
            var partition = ScanEventRows.Partition(qrId, day.Key, batchId);
            foreach (var chunk in day.Chunk(100))
            {
                var actions = chunk.Select(s => new TableTransactionAction(TableTransactionActionType.UpsertReplace, new TableEntity(partition, ScanEventRows.Row(s.Event.ScanTime, batchId, s.Index))
                {
                    ["TeamId"] = s.Event.TeamId, ["OrgId"] = s.Event.OrgId, ["ScanTime"] = s.Event.ScanTime, ["Device"] = s.Event.Device,
                    ["Os"] = s.Event.Os, ["Browser"] = s.Event.Browser, ["Country"] = s.Event.Country, ["City"] = s.Event.City,
                    ["IpAddress"] = s.Event.IpAddress, ["Referrer"] = s.Event.Referrer, ["Language"] = s.Event.Language,
                    ["IsBot"] = s.Event.IsBot, ["BotReason"] = s.Event.BotReason,
                })).ToList();
                await _events.SubmitTransactionAsync(actions, ct);
            }
        }
    }

    /// <summary>Per day: how many of this batch's human visitors were seen first by this batch.</summary>
    private async Task<Dictionary<string, long>> CountNewVisitorsAsync(string batchId, string qrId, List<ScanEvent> scans, CancellationToken ct)
    {
        var result = new Dictionary<string, long>();
        var sightings = scans.Where(e => !e.IsBot && e.VisitorHash.Length == 32 && e.VisitorHash.All(char.IsAsciiHexDigitLower))
            .Select(e => (Day: ScanStatRows.DayOf(e.ScanTime), Hash: e.VisitorHash)).Distinct()
            .GroupBy(s => (s.Day, Partition: ScanStatRows.VisitorPartition(qrId, s.Day, s.Hash)));
        foreach (var group in sightings)
        {
            var hashes = group.Select(g => g.Hash).ToList();
            long added;
            try
            {
                // Common case: all new, one transaction for the whole partition.
                await _stats.SubmitTransactionAsync(hashes.Select(h =>
                    new TableTransactionAction(TableTransactionActionType.Add, new TableEntity(group.Key.Partition, h) { ["FirstBatch"] = batchId })), ct);
                added = hashes.Count;
            }
            catch (TableTransactionFailedException ex) when (ex.Status == 409)
            {
                var firsts = await Task.WhenAll(hashes.Select(h => IsFirstSightingAsync(group.Key.Partition, h, batchId, ct)));
                added = firsts.Count(f => f);
            }
            result[group.Key.Day] = result.GetValueOrDefault(group.Key.Day) + added;
        }
        return result;
    }

    private async Task<bool> IsFirstSightingAsync(string partition, string hash, string batchId, CancellationToken ct)
    {
        try
        {
            await _stats.AddEntityAsync(new TableEntity(partition, hash) { ["FirstBatch"] = batchId }, ct);
            return true;
        }
        catch (RequestFailedException ex) when (ex.Status == 409)
        {
            var existing = await _stats.GetEntityAsync<TableEntity>(partition, hash, select: ["FirstBatch"], cancellationToken: ct);
            return existing.Value.GetString("FirstBatch") == batchId;
        }
    }

    private async Task ApplyCountersAsync(string batchId, string qrId, List<ScanEvent> scans, Dictionary<string, long> newVisitors, CancellationToken ct)
    {
        var marker = ScanStatRows.AppliedPrefix + batchId;
        var days = scans.GroupBy(e => ScanStatRows.DayOf(e.ScanTime)).ToList();
        for (var attempt = 1; ; attempt++)
        {
            if ((await _stats.GetEntityIfExistsAsync<TableEntity>(qrId, marker, select: ["RowKey"], cancellationToken: ct)).HasValue) return;

            var actions = new List<TableTransactionAction>
            {
                new(TableTransactionActionType.Add, new TableEntity(qrId, marker) { ["AppliedAt"] = Clock.NowMs() }),
            };
            var totalRow = (await _stats.GetEntityIfExistsAsync<TableEntity>(qrId, ScanStatRows.Total, cancellationToken: ct)) is { HasValue: true } t ? t.Value! : null;
            var total = totalRow ?? new TableEntity(qrId, ScanStatRows.Total) { ["TeamId"] = scans[0].TeamId, ["OrgId"] = scans[0].OrgId, ["FirstScanAt"] = scans.Min(e => e.ScanTime) };
            Bump(total, scans);
            total["LastScanAt"] = Math.Max(total.GetInt64("LastScanAt") ?? 0, scans.Max(e => e.ScanTime));
            total["FirstScanAt"] = Math.Min(total.GetInt64("FirstScanAt") ?? long.MaxValue, scans.Min(e => e.ScanTime));
            actions.Add(Write(total, totalRow is not null));

            foreach (var day in days)
            {
                var dayRow = (await _stats.GetEntityIfExistsAsync<TableEntity>(qrId, ScanStatRows.Day(day.Key), cancellationToken: ct)) is { HasValue: true } d ? d.Value! : null;
                var row = dayRow ?? new TableEntity(qrId, ScanStatRows.Day(day.Key)) { ["TeamId"] = scans[0].TeamId };
                Bump(row, day.ToList());
                row["Unique"] = (row.GetInt64("Unique") ?? 0) + newVisitors.GetValueOrDefault(day.Key);
                var breakdown = ScanStatRows.ReadBreakdown(row);
                foreach (var e in day.Where(e => !e.IsBot))
                {
                    ScanStatRows.AddTo(breakdown, "device", e.Device, 1);
                    ScanStatRows.AddTo(breakdown, "os", e.Os, 1);
                    ScanStatRows.AddTo(breakdown, "browser", e.Browser, 1);
                    ScanStatRows.AddTo(breakdown, "country", e.Country, 1);
                    ScanStatRows.AddTo(breakdown, "referrer", ScanStatRows.ReferrerHost(e.Referrer), 1);
                    ScanStatRows.AddTo(breakdown, "language", e.Language.ToLowerInvariant(), 1);
                }
                row["Breakdown"] = JsonSerializer.Serialize(breakdown);
                actions.Add(Write(row, dayRow is not null));
            }

            try
            {
                await _stats.SubmitTransactionAsync(actions, ct);
                return;
            }
            catch (TableTransactionFailedException ex) when ((ex.Status is 409 or 412) && attempt < MaxCounterAttempts)
            {
                // Another message for this code won the race (or this one was applied meanwhile): re-read and try again.
                await Task.Delay(Random.Shared.Next(5, 20 + 10 * Math.Min(attempt, 10)), ct);
            }
        }
    }

    /// <summary>A new row is added (fails if someone else added it first), an existing one replaced only if unchanged since read.</summary>
    private static TableTransactionAction Write(TableEntity row, bool existed) => existed
        ? new TableTransactionAction(TableTransactionActionType.UpdateReplace, row, row.ETag)
        : new TableTransactionAction(TableTransactionActionType.Add, row);

    private static void Bump(TableEntity row, IReadOnlyCollection<ScanEvent> scans)
    {
        var bots = scans.Count(e => e.IsBot);
        row["Total"] = (row.GetInt64("Total") ?? 0) + scans.Count;
        row["Human"] = (row.GetInt64("Human") ?? 0) + scans.Count - bots;
        row["Bot"] = (row.GetInt64("Bot") ?? 0) + bots;
    }
}
