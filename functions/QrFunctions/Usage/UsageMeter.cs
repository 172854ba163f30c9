using System.Collections.Concurrent;
using Azure.Data.Tables;
using QrFunctions.Auth;
using QrFunctions.Storage;

namespace QrFunctions.Usage;

/// <summary>
/// Counts billable calls in memory per (UTC day, organization, team, key, endpoint) and writes them every
/// QrFunctions:MeterFlushSeconds (10 s) and at shutdown, so no request waits for a metering write. Rows of the
/// usage table: PartitionKey = orgId (the billing unit: one range read per period), RowKey =
/// "{yyyy-MM-dd}|{teamId}|{keyId}|{endpoint}|{instance}|{flush}" with Count. Each flush writes rows of its own
/// (instance id + flush number); rows whose write failed are written again as they are (same keys, upsert) by
/// the next flush, so a write that was stored although the meter never heard so is not counted twice;
/// readers sum the rows. If an instance dies, at most its unflushed interval of counts is lost.
/// Also records when each key was last used (one write per key per flush, never per request).
/// </summary>
public sealed class UsageMeter(StorageAccount storage, TimeProvider time, ILogger<UsageMeter> log, IConfiguration configuration) : BackgroundService
{
    private readonly string _instance = Ids.Random(8);
    private readonly TimeSpan _interval = TimeSpan.FromSeconds(configuration.GetValue("QrFunctions:MeterFlushSeconds", 10.0));
    private ConcurrentDictionary<(string Day, string Org, string Team, string Key, string Endpoint), long> _counts = new();
    private ConcurrentDictionary<string, long> _lastUsed = new();
    private readonly SemaphoreSlim _flushing = new(1, 1);
    /// <summary>Rows of earlier flushes not known to be stored, kept with their keys; guarded by _flushing.</summary>
    private readonly List<TableEntity> _unwritten = [];
    private long _flushNumber;

    private TableClient Table => storage.Table(storage.Names.Usage);

    public void Count(Caller caller, string endpoint)
    {
        var now = time.GetUtcNow();
        _counts.AddOrUpdate((now.ToString("yyyy-MM-dd"), caller.OrgId, caller.TeamId, caller.KeyId, endpoint), 1, (_, n) => n + 1);
        _lastUsed[caller.KeyId] = now.ToUnixTimeMilliseconds();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try { await Task.Delay(_interval, time, stoppingToken); } catch (OperationCanceledException) { break; }
            try { await FlushAsync(CancellationToken.None); }
            catch (Exception ex) { log.LogWarning(ex, "Usage flush failed; counts are kept for the next one"); }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await FlushAsync(CancellationToken.None);
    }

    /// <summary>
    /// Writes everything counted so far, and rows of earlier flushes whose write failed. Rows that fail again are
    /// kept as they are for the next flush: rewritten under new keys they would be counted twice whenever the
    /// failed write had in fact been stored (or an earlier chunk of the same flush had).
    /// </summary>
    public async Task FlushAsync(CancellationToken ct)
    {
        await _flushing.WaitAsync(ct);
        try
        {
            var counts = Interlocked.Exchange(ref _counts, new());
            var lastUsed = Interlocked.Exchange(ref _lastUsed, new());
            if (counts.IsEmpty && lastUsed.IsEmpty && _unwritten.Count == 0) return;
            var flush = ++_flushNumber;
            var rows = _unwritten.Concat(counts.Select(c => new TableEntity(c.Key.Org, $"{c.Key.Day}|{c.Key.Team}|{c.Key.Key}|{c.Key.Endpoint}|{_instance}|{flush:D10}")
            {
                ["Day"] = c.Key.Day, ["TeamId"] = c.Key.Team, ["KeyId"] = c.Key.Key, ["Endpoint"] = c.Key.Endpoint, ["Count"] = c.Value,
            })).ToList();
            _unwritten.Clear();
            Exception? failure = null;
            foreach (var chunk in rows.GroupBy(r => r.PartitionKey).SelectMany(org => org.Chunk(100)))
            {
                try
                {
                    await Table.SubmitTransactionAsync(chunk.Select(r => new TableTransactionAction(TableTransactionActionType.UpsertReplace, r)), ct);
                }
                catch (Exception ex)
                {
                    _unwritten.AddRange(chunk);
                    failure ??= ex;
                }
            }
            if (failure is not null)
            {
                foreach (var (keyId, at) in lastUsed) _lastUsed.TryAdd(keyId, at);
                throw new InvalidOperationException($"{_unwritten.Count} usage rows could not be written; the next flush writes them again", failure);
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
