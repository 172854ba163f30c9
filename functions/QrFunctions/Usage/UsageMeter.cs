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
/// (instance id + flush number), and a retried flush rewrites the same rows, so counts are never doubled;
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

    /// <summary>Writes everything counted so far. Counts that fail to write are merged back for the next flush.</summary>
    public async Task FlushAsync(CancellationToken ct)
    {
        await _flushing.WaitAsync(ct);
        try
        {
            var counts = Interlocked.Exchange(ref _counts, new());
            var lastUsed = Interlocked.Exchange(ref _lastUsed, new());
            if (counts.IsEmpty && lastUsed.IsEmpty) return;
            var flush = ++_flushNumber;
            try
            {
                foreach (var org in counts.GroupBy(c => c.Key.Org))
                    foreach (var chunk in org.Chunk(100))
                        await Table.SubmitTransactionAsync(chunk.Select(c => new TableTransactionAction(TableTransactionActionType.UpsertReplace,
                            new TableEntity(org.Key, $"{c.Key.Day}|{c.Key.Team}|{c.Key.Key}|{c.Key.Endpoint}|{_instance}|{flush:D10}")
                            {
                                ["Day"] = c.Key.Day, ["TeamId"] = c.Key.Team, ["KeyId"] = c.Key.Key, ["Endpoint"] = c.Key.Endpoint, ["Count"] = c.Value,
                            })), ct);
            }
            catch
            {
                foreach (var (k, v) in counts) _counts.AddOrUpdate(k, v, (_, n) => n + v);
                throw;
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
