using System.Collections.Concurrent;
using Azure.Data.Tables;
using QrFunctions.Auth;
using QrFunctions.Storage;

namespace QrFunctions.Usage;

/// <summary>
/// Counts billable calls in memory per (UTC day, organization, team, key, endpoint) and writes them every
/// QrFunctions:MeterFlushSeconds (10 s) and at shutdown, so no request waits for a metering write. Rows of the
/// usage table: PartitionKey = orgId (the billing unit: one range read per period), RowKey =
/// "{yyyy-MM-dd}|{teamId}|{keyId}|{endpoint}|{instance}" with Count = this instance's running total for that
/// day. A flush replaces each changed row with the total so far, so a write that was stored although the meter
/// never heard so, or a retry, cannot count anything twice; and a busy day costs one row per instance and call
/// type, not one per flush. Readers sum the rows (also the per-flush rows "…|{instance}|{flush}" of builds
/// before 2026-11-23). If an instance dies, at most its unflushed interval of counts is lost.
/// Also records when each key was last used (one write per key per flush, never per request).
/// </summary>
public sealed class UsageMeter(StorageAccount storage, TimeProvider time, ILogger<UsageMeter> log, IConfiguration configuration) : BackgroundService
{
    private readonly string _instance = Ids.Random(8);
    private readonly TimeSpan _interval = TimeSpan.FromSeconds(configuration.GetValue("QrFunctions:MeterFlushSeconds", 10.0));
    private readonly ConcurrentDictionary<(string Day, string Org, string Team, string Key, string Endpoint), Tally> _tallies = new();
    private ConcurrentDictionary<string, long> _lastUsed = new();
    private readonly SemaphoreSlim _flushing = new(1, 1);

    /// <summary>A running total and the total last known to be stored (written only under _flushing).</summary>
    private sealed class Tally
    {
        public long Count;
        public long Stored;
    }

    private TableClient Table => storage.Table(storage.Names.Usage);

    public void Count(Caller caller, string endpoint)
    {
        var now = time.GetUtcNow();
        Interlocked.Increment(ref _tallies.GetOrAdd((now.ToString("yyyy-MM-dd"), caller.OrgId, caller.TeamId, caller.KeyId, endpoint), _ => new Tally()).Count);
        _lastUsed[caller.KeyId] = now.ToUnixTimeMilliseconds();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try { await Task.Delay(_interval, time, stoppingToken); } catch (OperationCanceledException) { break; }
            try { await FlushAsync(CancellationToken.None); }
            catch (Exception ex) { log.LogWarning(ex, "Usage flush failed; the next one writes the totals again"); }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await FlushAsync(CancellationToken.None);
    }

    /// <summary>
    /// Writes the running total of every tally that changed since it was last stored. A chunk that fails stays
    /// unstored and is written with its newer total by the next flush. Tallies of days before yesterday are
    /// forgotten once stored: no call is counted on them any more.
    /// </summary>
    public async Task FlushAsync(CancellationToken ct)
    {
        await _flushing.WaitAsync(ct);
        try
        {
            var lastUsed = Interlocked.Exchange(ref _lastUsed, new());
            var changed = _tallies.Select(t => (t.Key, t.Value, Total: Interlocked.Read(ref t.Value.Count)))
                .Where(t => t.Total != t.Value.Stored).ToList();
            Exception? failure = null;
            foreach (var chunk in changed.GroupBy(t => t.Key.Org).SelectMany(org => org.Chunk(100)))
            {
                try
                {
                    await Table.SubmitTransactionAsync(chunk.Select(t => new TableTransactionAction(TableTransactionActionType.UpsertReplace,
                        new TableEntity(t.Key.Org, $"{t.Key.Day}|{t.Key.Team}|{t.Key.Key}|{t.Key.Endpoint}|{_instance}")
                        {
                            ["Day"] = t.Key.Day, ["TeamId"] = t.Key.Team, ["KeyId"] = t.Key.Key, ["Endpoint"] = t.Key.Endpoint, ["Count"] = t.Total,
                        })), ct);
                    foreach (var t in chunk) t.Value.Stored = t.Total;
                }
                catch (Exception ex)
                {
                    failure ??= ex;
                }
            }
            var closed = time.GetUtcNow().AddDays(-2).ToString("yyyy-MM-dd");
            foreach (var (key, tally) in _tallies)
                if (string.CompareOrdinal(key.Day, closed) <= 0 && tally.Stored == Interlocked.Read(ref tally.Count)) _tallies.TryRemove(key, out _);
            if (failure is not null)
            {
                foreach (var (keyId, at) in lastUsed) _lastUsed.TryAdd(keyId, at);
                throw new InvalidOperationException("Some usage totals could not be written; the next flush writes them again", failure);
            }
            foreach (var (keyId, at) in lastUsed)
            {
                try { await storage.ApiKeys.UpdateEntityAsync(new TableEntity(keyId, ApiKey.Row) { ["LastUsedAt"] = at }, Azure.ETag.All, TableUpdateMode.Merge, ct); }
                catch (Azure.RequestFailedException ex) when (ex.Status == 404) { } // the key was deleted meanwhile
            }
        }
        finally
        {
            _flushing.Release();
        }
    }

    /// <summary>CSV lines "day,team,key,endpoint,calls" of an organization for days [from, to], summed over instances and flushes.</summary>
    public static async Task<List<string>> DetailAsync(StorageAccount storage, string orgId, string from, string to, CancellationToken ct)
    {
        var totals = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {orgId} and RowKey ge {from} and RowKey lt {to + "}"}");
        await foreach (var row in storage.Table(storage.Names.Usage).QueryAsync<TableEntity>(filter, cancellationToken: ct))
        {
            var key = string.Join(',', row.GetString("Day"), row.GetString("TeamId"), row.GetString("KeyId"), row.GetString("Endpoint"));
            totals[key] = totals.GetValueOrDefault(key) + (row.GetInt64("Count") ?? 0);
        }
        return totals.Select(t => $"{t.Key},{t.Value}").ToList();
    }

    /// <summary>Summed counts of an organization for days [from, to], one row per group.</summary>
    public static async Task<List<(string Group, long Count)>> ReadAsync(StorageAccount storage, string orgId, string from, string to, string groupBy, CancellationToken ct)
    {
        var totals = new Dictionary<string, long>();
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {orgId} and RowKey ge {from} and RowKey lt {to + "}"}");
        await foreach (var row in storage.Table(storage.Names.Usage).QueryAsync<TableEntity>(filter, cancellationToken: ct))
        {
            var group = groupBy switch
            {
                "team" => row.GetString("TeamId"),
                "key" => row.GetString("KeyId"),
                "endpoint" => row.GetString("Endpoint"),
                _ => row.GetString("Day"),
            };
            totals[group] = totals.GetValueOrDefault(group) + (row.GetInt64("Count") ?? 0);
        }
        return totals.OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => (t.Key, t.Value)).ToList();
    }
}
