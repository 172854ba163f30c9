using System.Text.Json;
using System.Text.RegularExpressions;
using Azure;
using Azure.Data.Tables;
using QrFunctions.Scans;
using QrFunctions.Storage;

namespace QrFunctions.Analytics;

/// <summary>
/// Behind the queue function "AggregateScans" (<see cref="ScanAggregation"/>): turns one scan batch into detailed event rows, unique-visitor
/// sightings and counters. Every step is idempotent per batch id, so a message redelivered after a
/// crash at any point is counted exactly once:
///   1. event rows: deterministic keys, upserted;
///   2. visitor sightings: insert-if-absent, "new" means FirstBatch == this batch;
///   3. counters: per code ONE transaction that updates total and day rows (ETag-checked) and adds the
///      marker "counted|{day}|{batchId}" of every message in it; a message whose marker exists was already counted.
///      The same transaction deletes markers older than ScanStatRows.MarkerRetention (no redelivery can need them),
///      so a code's partition holds about a week of markers, not its whole history.
/// Counter rows get one transaction per code for the messages waiting on this instance, not one write per
/// scan or per message (see docs/scans.md).
/// </summary>
public sealed partial class ScanBatchAggregator(StorageAccount storage, Webhooks.WebhookPublisher webhooks, ILogger<ScanBatchAggregator> log) 
{
    private const int MaxCounterAttempts = 40;
    private const int MaxActionsPerTransaction = 100;

    private readonly TableClient _events = storage.Table(storage.Names.ScanEvents);
    private readonly TableClient _stats = storage.Table(storage.Names.ScanStats);
    /// <summary>Messages of one code whose counters wait for the transaction under way (see ApplyCountersAsync).</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, CounterQueue> _counterQueues = new();

    /// <summary>Most messages one counter transaction applies: a marker row each (and two point reads), leaving room for pruning in Azure's 100 operations.</summary>
    public const int MaxMessagesPerCounterWrite = 12;

    /// <summary>Most expired markers one counter transaction deletes, within Azure's 100 operations per transaction.</summary>
    public const int MaxMarkersPrunedPerWrite = 30;

    /// <param name="Marker">"counted|{day of the message's newest scan}|{batchId}": the same for every code of the message and every delivery.</param>
    /// <param name="NewOutcomes">Per (day of the scan, kind): what later steps added to scans that no earlier batch had added (location, declined).</param>
    private sealed record CounterUpdate(string BatchId, string Marker, List<ScanEvent> Scans, Dictionary<string, long> NewVisitors,
        Dictionary<(string Day, string Kind), long> NewOutcomes, string TeamId, string OrgId)
    {
        public readonly TaskCompletionSource Applied = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class CounterQueue
    {
        public readonly List<CounterUpdate> Waiting = [];
        public bool Draining;
    }

    [GeneratedRegex("^[0-9a-f]{32}$")]
    private static partial Regex BatchIdPattern();

    public async Task AggregateAsync(string message, CancellationToken ct)
    {
        var batch = Parse(message);
        if (batch.Events.Count == 0) return;
        var newestScan = batch.Events.Max(e => e.ScanTime);
        if (newestScan < Clock.NowMs() - (long)ScanStatRows.RedeliveryHorizon.TotalMilliseconds) throw new StaleScanBatchException(batch.BatchId);
        var marker = ScanStatRows.Counted(ScanStatRows.DayOf(newestScan), batch.BatchId);
        await Task.WhenAll(batch.Events.Select((e, i) => (Event: e, Index: i)).GroupBy(x => x.Event.QrId)
            .Select(code => AggregateCodeAsync(batch.BatchId, marker, code.Key, code.ToList(), ct)));
        log.LogDebug("Aggregated scan batch {BatchId}: {Count} events", batch.BatchId, batch.Events.Count);
        // scans.recorded goes out per batch and team (a redelivered batch may notify twice; the batch id lets receivers deduplicate).
        foreach (var team in batch.Events.Where(e => e.Kind is null).GroupBy(e => e.TeamId))
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
            if (e.ScanId is not null && (e.ScanId.Length != 32 || !e.ScanId.All(char.IsAsciiHexDigitLower)))
                throw new FormatException("Scan batch message has an event whose scan id is not 32 hex digits.");
            var validOutcome = e.Kind switch
            {
                null => true,
                ScanEvent.Kinds.Declined => e.ScanId is not null,
                ScanEvent.Kinds.Location => e.ScanId is not null && e.Latitude is { } la && e.Longitude is { } lo && Math.Abs(la) <= 90 && Math.Abs(lo) <= 180,
                _ => false,
            };
            if (!validOutcome) throw new FormatException("Scan batch message has a follow-up event of an unknown kind, or without its scan id or position.");
        }
        return batch;
    }

    private async Task AggregateCodeAsync(string batchId, string marker, string qrId, List<(ScanEvent Event, int Index)> events, CancellationToken ct)
    {
        var scans = events.Where(e => e.Event.Kind is null).ToList();
        var outcomes = events.Where(e => e.Event.Kind is not null).Select(e => e.Event).ToList();
        if (scans.Count > 0) await WriteEventRowsAsync(batchId, qrId, scans, ct);
        var newVisitors = await CountNewVisitorsAsync(batchId, qrId, scans.Select(s => s.Event).ToList(), ct);
        var newOutcomes = await RecordOutcomesAsync(batchId, qrId, outcomes, ct);
        await ApplyCountersAsync(qrId, new CounterUpdate(batchId, marker, scans.Select(s => s.Event).ToList(), newVisitors, newOutcomes,
            events[0].Event.TeamId, events[0].Event.OrgId));
    }

    /// <summary>
    /// What later steps added to recorded scans (docs/scans.md#scan-flow), one row per scan and kind in the partition of the scan's
    /// code and day: insert-if-absent, new for the batch in FirstBatch (as visitor sightings), so a redelivered batch finds its own
    /// rows and counts them again under the same marker, once. Of several positions shared for one scan (a double tap) the earliest
    /// answered stays, whatever order their batches arrive in: queue messages are not handled in the order they were written.
    /// </summary>
    private async Task<Dictionary<(string Day, string Kind), long>> RecordOutcomesAsync(string batchId, string qrId, List<ScanEvent> outcomes, CancellationToken ct)
    {
        var result = new Dictionary<(string Day, string Kind), long>();
        var firstOfEach = outcomes.GroupBy(e => (e.ScanId, e.Kind)).Select(g => g.MinBy(e => e.AnsweredAt ?? long.MaxValue)!);
        foreach (var day in firstOfEach.GroupBy(e => ScanStatRows.DayOf(e.ScanTime)))
        {
            var partition = ScanStatRows.OutcomePartition(qrId, day.Key);
            TableEntity Row(ScanEvent e)
            {
                var row = new TableEntity(partition, ScanStatRows.Outcome(e.ScanId!, e.Kind!)) { ["FirstBatch"] = batchId, ["ScanTime"] = e.ScanTime };
                if (e.Kind == ScanEvent.Kinds.Location) (row["Latitude"], row["Longitude"]) = (e.Latitude, e.Longitude);
                if (e.Kind == ScanEvent.Kinds.Location && e.AnsweredAt is { } answered) row["AnsweredAt"] = answered; // events of older builds have none
                return row;
            }
            List<ScanEvent> added;
            try
            {
                foreach (var chunk in day.Chunk(100))
                    await _stats.SubmitTransactionAsync(chunk.Select(e => new TableTransactionAction(TableTransactionActionType.Add, Row(e))), ct);
                added = day.ToList();
            }
            catch (TableTransactionFailedException ex) when (ex.Status == 409)
            {
                var firsts = await Task.WhenAll(day.Select(async e => (Event: e, First: await IsFirstOutcomeAsync(Row(e), batchId, ct))));
                added = firsts.Where(f => f.First).Select(f => f.Event).ToList();
            }
            foreach (var e in added) result[(day.Key, e.Kind!)] = result.GetValueOrDefault((day.Key, e.Kind!)) + 1;
        }
        return result;
    }

    private async Task<bool> IsFirstOutcomeAsync(TableEntity row, string batchId, CancellationToken ct)
    {
        try
        {
            await _stats.AddEntityAsync(row, ct);
            return true;
        }
        catch (RequestFailedException ex) when (ex.Status == 409)
        {
            for (var attempt = 0; ; attempt++)
            {
                var existing = (await _stats.GetEntityAsync<TableEntity>(row.PartitionKey, row.RowKey, select: ["FirstBatch", "AnsweredAt"], cancellationToken: ct)).Value;
                if (existing.GetString("FirstBatch") == batchId) return true;
                // Another batch recorded this outcome first; a position answered earlier than the stored one replaces it, uncounted.
                if (row.GetInt64("AnsweredAt") is not { } answered || existing.GetInt64("AnsweredAt") is not { } stored || answered >= stored) return false;
                var earlier = new TableEntity(row.PartitionKey, row.RowKey) { ["Latitude"] = row["Latitude"], ["Longitude"] = row["Longitude"], ["AnsweredAt"] = answered };
                try
                {
                    await _stats.UpdateEntityAsync(earlier, existing.ETag, TableUpdateMode.Merge, ct);
                    return false;
                }
                catch (RequestFailedException changed) when (changed.Status == 412 && attempt < 5) { } // moved meanwhile: compare again
            }
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
                    ["IsBot"] = s.Event.IsBot, ["BotReason"] = s.Event.BotReason, ["ScanId"] = s.Event.ScanId,
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

    /// <summary>
    /// Group commit for counters: all messages of a code share its total and day rows, so on one instance
    /// they are applied one transaction at a time, and the messages that arrive meanwhile go together in the
    /// next one (up to <see cref="MaxMessagesPerCounterWrite"/>). A hot code then costs two reads and one
    /// transaction per group instead of per message. Completes when this message's counts are in.
    /// </summary>
    private Task ApplyCountersAsync(string qrId, CounterUpdate update)
    {
        var queue = _counterQueues.GetOrAdd(qrId, _ => new CounterQueue());
        bool start;
        lock (queue)
        {
            queue.Waiting.Add(update);
            start = !queue.Draining;
            queue.Draining = true;
        }
        if (start) _ = Task.Run(() => DrainCountersAsync(qrId, queue));
        return update.Applied.Task;
    }

    private async Task DrainCountersAsync(string qrId, CounterQueue queue)
    {
        while (true)
        {
            List<CounterUpdate> group;
            lock (queue)
            {
                if (queue.Waiting.Count == 0)
                {
                    queue.Draining = false;
                    // A caller that still got this queue starts its own drain; ETags keep two drains of one code correct.
                    _counterQueues.TryRemove(new KeyValuePair<string, CounterQueue>(qrId, queue));
                    return;
                }
                group = queue.Waiting.Take(MaxMessagesPerCounterWrite).ToList();
                queue.Waiting.RemoveRange(0, group.Count);
            }
            try
            {
                // Not a message's token: the group serves several messages; each SDK call has its own timeout.
                await ApplyCounterGroupAsync(qrId, group, CancellationToken.None);
                foreach (var update in group) update.Applied.TrySetResult();
            }
            catch (Exception ex)
            {
                foreach (var update in group) update.Applied.TrySetException(ex);
            }
        }
    }

    /// <summary>
    /// One transaction in the code's partition: the total row, the day rows (ETag-checked replace, or Add if
    /// new), one "counted|{day}|{batchId}" marker per message, and the deletion of up to
    /// <see cref="MaxMarkersPrunedPerWrite"/> expired markers. Messages whose marker (or legacy "applied|" marker)
    /// exists were counted before (a redelivery) and are left out. On a 404/409/412 another writer won: re-read and try again.
    /// </summary>
    private async Task ApplyCounterGroupAsync(string qrId, List<CounterUpdate> group, CancellationToken ct)
    {
        var allDays = group.SelectMany(u => u.Scans.Select(e => ScanStatRows.DayOf(e.ScanTime)).Concat(u.NewOutcomes.Keys.Select(k => k.Day)))
            .Distinct().Order(StringComparer.Ordinal).ToList();
        if (allDays.Count == 0) return; // only follow-ups that earlier batches had already added: nothing to count
        var markers = group.SelectMany(u => new[] { u.Marker, ScanStatRows.LegacyApplied(u.BatchId) }).Distinct().ToList();
        for (var attempt = 1; ; attempt++)
        {
            // Point reads and key ranges only: an OR of RowKeys in one filter is served as a scan of the whole partition.
            var markersTask = Task.WhenAll(markers.Select(key => _stats.GetEntityIfExistsAsync<TableEntity>(qrId, key, ["RowKey"], ct)));
            var totalTask = _stats.GetEntityIfExistsAsync<TableEntity>(qrId, ScanStatRows.Total, cancellationToken: ct);
            var expiredTask = ExpiredMarkersAsync(qrId, ct);
            var dayRows = await ReadRowsAsync(TableClient.CreateQueryFilter(
                $"PartitionKey eq {qrId} and RowKey ge {ScanStatRows.Day(allDays[0])} and RowKey le {ScanStatRows.Day(allDays[^1])}"), ct);
            var found = (await markersTask).Where(r => r.HasValue).Select(r => r.Value!.RowKey).ToHashSet();
            var totalRow = (await totalTask) is { HasValue: true } t ? t.Value : null;
            var expired = await expiredTask;
            // A message delivered twice at once can sit in one group twice: its counts and marker go in once.
            var pending = group.Where(u => !found.Contains(u.Marker) && !found.Contains(ScanStatRows.LegacyApplied(u.BatchId))).DistinctBy(u => u.BatchId).ToList();
            if (pending.Count == 0) return;
            var scans = pending.SelectMany(u => u.Scans).ToList();

            var actions = pending.Select(u => new TableTransactionAction(TableTransactionActionType.Add,
                new TableEntity(qrId, u.Marker) { ["AppliedAt"] = Clock.NowMs() })).ToList();
            var total = totalRow ?? new TableEntity(qrId, ScanStatRows.Total) { ["TeamId"] = pending[0].TeamId, ["OrgId"] = pending[0].OrgId };
            Bump(total, scans);
            if (scans.Count > 0)
            {
                total["LastScanAt"] = Math.Max(total.GetInt64("LastScanAt") ?? 0, scans.Max(e => e.ScanTime));
                total["FirstScanAt"] = Math.Min(total.GetInt64("FirstScanAt") ?? long.MaxValue, scans.Min(e => e.ScanTime));
            }
            foreach (var kind in new[] { ScanEvent.Kinds.Location, ScanEvent.Kinds.Declined })
            {
                var added = pending.Sum(u => u.NewOutcomes.Where(o => o.Key.Kind == kind).Sum(o => o.Value));
                if (added > 0) total[ScanStatRows.OutcomeColumn(kind)] = (total.GetInt64(ScanStatRows.OutcomeColumn(kind)) ?? 0) + added;
            }
            actions.Add(Write(total, totalRow is not null));

            var pendingDays = scans.Select(e => ScanStatRows.DayOf(e.ScanTime)).Concat(pending.SelectMany(u => u.NewOutcomes.Keys.Select(k => k.Day))).Distinct();
            foreach (var dayKey in pendingDays)
            {
                var day = scans.Where(e => ScanStatRows.DayOf(e.ScanTime) == dayKey).ToList();
                var dayRow = dayRows.GetValueOrDefault(ScanStatRows.Day(dayKey));
                var row = dayRow ?? new TableEntity(qrId, ScanStatRows.Day(dayKey)) { ["TeamId"] = pending[0].TeamId };
                Bump(row, day);
                foreach (var kind in new[] { ScanEvent.Kinds.Location, ScanEvent.Kinds.Declined })
                {
                    var added = pending.Sum(u => u.NewOutcomes.GetValueOrDefault((dayKey, kind)));
                    if (added > 0) row[ScanStatRows.OutcomeColumn(kind)] = (row.GetInt64(ScanStatRows.OutcomeColumn(kind)) ?? 0) + added;
                }
                row["Unique"] = (row.GetInt64("Unique") ?? 0) + pending.Sum(u => u.NewVisitors.GetValueOrDefault(dayKey));
                row[ScanStatRows.EventShards] = pending.Where(u => u.Scans.Any(e => ScanStatRows.DayOf(e.ScanTime) == dayKey))
                    .Aggregate(row.GetInt32(ScanStatRows.EventShards) ?? 0, (mask, u) => mask | ScanEventRows.ShardBit(u.BatchId));
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
            actions.AddRange(expired.Take(MaxActionsPerTransaction - actions.Count)
                .Select(key => new TableTransactionAction(TableTransactionActionType.Delete, new TableEntity(qrId, key), ETag.All)));

            try
            {
                await _stats.SubmitTransactionAsync(actions, ct);
                return;
            }
            catch (TableTransactionFailedException ex) when ((ex.Status is 404 or 409 or 412) && attempt < MaxCounterAttempts)
            {
                // Another writer for this code won the race (or applied one of these meanwhile; 404: a marker to prune is already gone): re-read and try again.
                await Task.Delay(Random.Shared.Next(5, 20 + 10 * Math.Min(attempt, 10)), ct);
            }
        }
    }

    /// <summary>Up to <see cref="MaxMarkersPrunedPerWrite"/> markers past their retention, oldest first: a key range, not a scan.</summary>
    private async Task<List<string>> ExpiredMarkersAsync(string qrId, CancellationToken ct)
    {
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {qrId} and RowKey ge {ScanStatRows.CountedPrefix} and RowKey lt {ScanStatRows.FirstKeptMarker(Clock.NowMs())}");
        await foreach (var page in _stats.QueryAsync<TableEntity>(filter, MaxMarkersPrunedPerWrite, ["RowKey"], ct).AsPages())
            return page.Values.Take(MaxMarkersPrunedPerWrite).Select(r => r.RowKey).ToList();
        return [];
    }

    private async Task<Dictionary<string, TableEntity>> ReadRowsAsync(string filter, CancellationToken ct)
    {
        var rows = new Dictionary<string, TableEntity>(StringComparer.Ordinal);
        await foreach (var row in _stats.QueryAsync<TableEntity>(filter, cancellationToken: ct)) rows[row.RowKey] = row;
        return rows;
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

/// <summary>The message's newest scan is older than any queue delivery can be, so its redelivery marker may be gone: counting it could count it twice.</summary>
public sealed class StaleScanBatchException(string batchId)
    : Exception($"Scan batch {batchId} is older than a queue message lives ({ScanBatch.TimeToLive.TotalDays} days): not counted, since its redelivery marker may be pruned. It goes to the poison queue for a person to decide.");

/// <summary>
/// Queue function "AggregateScans". The worker makes a new instance per invocation; the aggregator it calls is a
/// singleton, because its counter group commit gathers the messages of one code that wait on this instance.
/// </summary>
public sealed class ScanAggregation(ScanBatchAggregator aggregator)
{
    [Microsoft.Azure.Functions.Worker.Function("AggregateScans")]
    public Task AggregateAsync([Microsoft.Azure.Functions.Worker.QueueTrigger("scan-events")] string message, CancellationToken ct) =>
        aggregator.AggregateAsync(message, ct);
}
