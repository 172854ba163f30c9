using Microsoft.Azure.Functions.Worker;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using Azure.Data.Tables;
using QrFunctions.Api;
using QrFunctions.Auth;
using QrFunctions.Storage;

namespace QrFunctions.Analytics;

/// <summary>
/// Surface A analytics (viewer role, the caller's team only): detailed scans of one code, of many codes in
/// a time window, overviews, and per-dimension breakdowns. Reads only scanstats/scanevents rows whose TeamId
/// is the caller's team; codes of other teams are 404 (single code) or silently left out (bulk calls).
/// </summary>
[ApiAccess(ApiSurface.QrApi), Tags("Analytics")]
public sealed class AnalyticsApi(StorageAccount storage)
{
    public const int DetailedDays = 30;
    public const int DetailedMaxItems = 1000;
    public const int BulkMaxIds = 50;
    public const int BulkMaxDays = 92;
    public const int BulkMaxItems = 10_000;
    public const int OverviewMaxIds = 100;
    public const int BreakdownMaxDays = 366;
    private const long DayMs = 86_400_000L;

    private const string Route = "api/analytics-api";

    private enum Visibility { NotVisible, NeverScanned, Scanned }

    /// <summary>
    /// Whether the caller's team may see a code: its counter row names the team, or (never scanned yet) the
    /// team's partition holds the code's row "qr|{qrId}". A code of another team is indistinguishable from none.
    /// </summary>
    private static async Task<(Visibility, TableEntity?)> VisibilityAsync(StorageAccount storage, TableClient stats, string teamId, string qrId, CancellationToken ct)
    {
        if (!ScanStatRows.IsKeySafe(qrId)) return (Visibility.NotVisible, null);
        var total = await stats.GetEntityIfExistsAsync<TableEntity>(qrId, ScanStatRows.Total, cancellationToken: ct);
        if (total.HasValue) return total.Value!.GetString("TeamId") == teamId ? (Visibility.Scanned, total.Value) : (Visibility.NotVisible, null);
        var qr = await storage.TeamData.GetEntityIfExistsAsync<TableEntity>(teamId, "qr|" + qrId, select: ["RowKey"], cancellationToken: ct);
        return (qr.HasValue ? Visibility.NeverScanned : Visibility.NotVisible, null);
    }

    /// <summary>The code's day rows from <paramref name="fromDay"/> to <paramref name="toDay"/> (yyyyMMdd, inclusive), oldest first.</summary>
    private static async Task<List<TableEntity>> DayRowsAsync(TableClient stats, string qrId, string fromDay, string toDay, CancellationToken ct)
    {
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {qrId} and RowKey ge {ScanStatRows.Day(fromDay)} and RowKey le {ScanStatRows.Day(toDay)}");
        var rows = new List<TableEntity>();
        await foreach (var row in stats.QueryAsync<TableEntity>(filter, cancellationToken: ct)) rows.Add(row);
        return rows;
    }

    [Function("AnalyticsDetailed"), EndpointSummary("Scans of one code, newest first")]
    public async Task<IResult> DetailedAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = Route + "/detailed/{qrId}")] HttpRequest req, string qrId)
    {
        var context = req.HttpContext;
        var ct = context.RequestAborted;
        var teamId = context.Caller().TeamId;
        var stats = storage.Table(storage.Names.ScanStats);
        var (visibility, _) = await VisibilityAsync(storage, stats, teamId, qrId, ct);
        if (visibility == Visibility.NotVisible) throw ApiProblem.NotFound("QR code not found.");
        var scans = new List<JsonObject>();
        if (visibility == Visibility.Scanned)
        {
            var now = Clock.NowMs();
            await ScansAsync(storage, stats, teamId, qrId, now - (DetailedDays - 1) * DayMs - now % DayMs, now, DetailedMaxItems, scans, ct);
        }
        return Envelope.Ok(scans);
    }

    /// <summary>Appends the code's scans in [from, to] ms, newest first, until <paramref name="limit"/> items are in <paramref name="into"/>.</summary>
    private static async Task ScansAsync(StorageAccount storage, TableClient stats, string teamId, string qrId, long from, long to, int limit, List<JsonObject> into, CancellationToken ct)
    {
        var events = storage.Table(storage.Names.ScanEvents);
        var days = await DayRowsAsync(stats, qrId, ScanStatRows.DayOf(from), ScanStatRows.DayOf(to), ct);
        foreach (var day in Enumerable.Reverse(days))
        {
            var shards = ScanEventRows.ShardsIn(day.GetInt32(ScanStatRows.EventShards));
            await foreach (var row in DayEventsNewestFirstAsync(events, qrId, day.RowKey[ScanStatRows.DayPrefix.Length..], shards, from, to, ct))
            {
                if (row.GetString("TeamId") != teamId) continue;
                if (into.Count >= limit) return;
                into.Add(ScanData(qrId, row));
            }
        }
    }

    /// <summary>One day's events of a code in [from, to], newest first: the shard partitions that hold events read at once and merged by RowKey.</summary>
    private static async IAsyncEnumerable<TableEntity> DayEventsNewestFirstAsync(TableClient events, string qrId, string day, IEnumerable<char> shardsWithEvents,
        long from, long to, [EnumeratorCancellation] CancellationToken ct)
    {
        var shards = shardsWithEvents.Select(shard => events.QueryAsync<TableEntity>(TableClient.CreateQueryFilter(
                $"PartitionKey eq {ScanEventRows.Partition(qrId, day, shard)} and RowKey ge {ScanEventRows.InvertedTime(to)} and RowKey lt {ScanEventRows.InvertedTime(from) + "}"}"),
            cancellationToken: ct).GetAsyncEnumerator(ct)).ToList();
        try
        {
            var heads = new PriorityQueue<IAsyncEnumerator<TableEntity>, string>(StringComparer.Ordinal);
            var started = await Task.WhenAll(shards.Select(s => s.MoveNextAsync().AsTask()));
            for (var i = 0; i < shards.Count; i++)
                if (started[i]) heads.Enqueue(shards[i], shards[i].Current.RowKey);
            while (heads.TryDequeue(out var shard, out _))
            {
                yield return shard.Current;
                if (await shard.MoveNextAsync()) heads.Enqueue(shard, shard.Current.RowKey);
            }
        }
        finally
        {
            foreach (var shard in shards) await shard.DisposeAsync();
        }
    }

    private static JsonObject ScanData(string qrId, TableEntity row) => new()
    {
        ["qrId"] = qrId,
        ["scanTime"] = row.GetInt64("ScanTime") ?? 0,
        ["device"] = row.GetString("Device") ?? "",
        ["browser"] = row.GetString("Browser") ?? "",
        ["os"] = row.GetString("Os") ?? "",
        ["country"] = row.GetString("Country") ?? "",
        ["city"] = row.GetString("City") ?? "",
        ["ipAddress"] = row.GetString("IpAddress") ?? "",
        ["referrer"] = row.GetString("Referrer") ?? "",
        ["isBot"] = row.GetBoolean("IsBot") ?? false,
    };

    [Function("AnalyticsDetailedAll"), EndpointSummary("Scans of several codes in a time window")]
    public async Task<IResult> DetailedAllAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = Route + "/detailed/all")] HttpRequest req)
    {
        var context = req.HttpContext;
        var ct = context.RequestAborted;
        var body = await RequestJson.ReadObjectAsync(context);
        var qrIds = body.OptionalIdArray("qrIds", BulkMaxIds) ?? throw ApiProblem.BadRequest("qrIds is required.");
        if (qrIds.Count == 0) throw ApiProblem.BadRequest("qrIds must name at least one QR code.");
        var start = body.RequiredLong("startTime");
        var end = body.RequiredLong("endTime");
        if (start < 0) throw ApiProblem.BadRequest("startTime must be epoch milliseconds (>= 0).");
        if (end > 9_000_000_000_000L) throw ApiProblem.BadRequest("endTime must be epoch milliseconds.");
        if (start > end) throw ApiProblem.BadRequest("startTime must not be after endTime.");
        if (end - start > BulkMaxDays * DayMs) throw ApiProblem.BadRequest($"endTime - startTime must be at most {BulkMaxDays} days.");

        var teamId = context.Caller().TeamId;
        var stats = storage.Table(storage.Names.ScanStats);
        var perCode = await Task.WhenAll(qrIds.Distinct().Select(async qrId =>
        {
            var list = new List<JsonObject>();
            if ((await VisibilityAsync(storage, stats, teamId, qrId, ct)).Item1 == Visibility.Scanned)
                await ScansAsync(storage, stats, teamId, qrId, start, end, BulkMaxItems, list, ct);
            return list;
        }));
        var scans = perCode.SelectMany(l => l).OrderByDescending(s => (long)s["scanTime"]!).Take(BulkMaxItems).ToList();
        return Envelope.Ok(scans);
    }

    [Function("AnalyticsOverviews"), EndpointSummary("Scan totals of several codes")]
    public async Task<IResult> OverviewsAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = Route + "/overviews")] HttpRequest req)
    {
        var context = req.HttpContext;
        var ct = context.RequestAborted;
        var body = await RequestJson.ReadObjectAsync(context);
        var qrIds = body.OptionalIdArray("qrIds", OverviewMaxIds) ?? throw ApiProblem.BadRequest("qrIds is required.");
        var teamId = context.Caller().TeamId;
        var stats = storage.Table(storage.Names.ScanStats);
        var now = Clock.NowMs();
        var today = ScanStatRows.DayOf(now);
        var yesterday = ScanStatRows.DayOf(now - DayMs);
        var todayDate = DateTimeOffset.FromUnixTimeMilliseconds(now).UtcDateTime;
        var todayText = $"{todayDate.Month}/{todayDate.Day}/{todayDate.Year}";

        var items = await Task.WhenAll(qrIds.Distinct().Select(async qrId =>
        {
            var (visibility, total) = await VisibilityAsync(storage, stats, teamId, qrId, ct);
            if (visibility == Visibility.NotVisible) return null;
            var days = visibility == Visibility.Scanned ? await DayRowsAsync(stats, qrId, yesterday, today, ct) : [];
            TableEntity? Day(string d) => days.FirstOrDefault(r => r.RowKey == ScanStatRows.Day(d));
            return new JsonObject
            {
                ["id"] = qrId,
                ["totalScans"] = total?.GetInt64("Total") ?? 0,
                ["todayScans"] = Day(today)?.GetInt64("Total") ?? 0,
                ["yesterdayScans"] = Day(yesterday)?.GetInt64("Total") ?? 0,
                ["totalLeadsCount"] = 0,
                ["leadsTodayCount"] = 0,
                ["leadsYesterdayCount"] = 0,
                ["createdAt"] = total?.GetInt64("FirstScanAt") ?? 0,
                ["updatedAt"] = total?.GetInt64("LastScanAt") ?? 0,
                ["leadsUpdatedAt"] = 0,
                ["todayDate"] = todayText,
                ["leadsTodayDate"] = todayText,
                ["humanScans"] = total?.GetInt64("Human") ?? 0,
                ["botScans"] = total?.GetInt64("Bot") ?? 0,
                ["todayUniqueVisitors"] = Day(today)?.GetInt64("Unique") ?? 0,
                ["yesterdayUniqueVisitors"] = Day(yesterday)?.GetInt64("Unique") ?? 0,
            };
        }));
        return Envelope.Ok(items.Where(i => i is not null).ToList());
    }

    [Function("AnalyticsBreakdown"), EndpointSummary("Scans of one code per device, OS, browser, country, city or language")]
    public async Task<IResult> BreakdownAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = Route + "/breakdown/{qrId}")] HttpRequest req, string qrId)
    {
        var context = req.HttpContext;
        var ct = context.RequestAborted;
        var now = Clock.NowMs();
        var to = QueryLong(context, "to") ?? now;
        var from = QueryLong(context, "from") ?? to - (DetailedDays - 1) * DayMs - to % DayMs;
        if (from > to) throw ApiProblem.BadRequest("from must not be after to.");
        if (to - from > BreakdownMaxDays * DayMs) throw ApiProblem.BadRequest($"to - from must be at most {BreakdownMaxDays} days.");

        var teamId = context.Caller().TeamId;
        var stats = storage.Table(storage.Names.ScanStats);
        var (visibility, _) = await VisibilityAsync(storage, stats, teamId, qrId, ct);
        if (visibility == Visibility.NotVisible) throw ApiProblem.NotFound("QR code not found.");
        var rows = visibility == Visibility.Scanned ? await DayRowsAsync(stats, qrId, ScanStatRows.DayOf(from), ScanStatRows.DayOf(to), ct) : [];

        var breakdown = new Dictionary<string, Dictionary<string, long>>();
        var days = new JsonArray();
        long total = 0, human = 0, bot = 0, unique = 0;
        foreach (var row in rows.Where(r => r.GetString("TeamId") == teamId))
        {
            var day = row.RowKey[ScanStatRows.DayPrefix.Length..];
            long t = row.GetInt64("Total") ?? 0, h = row.GetInt64("Human") ?? 0, b = row.GetInt64("Bot") ?? 0, u = row.GetInt64("Unique") ?? 0;
            total += t; human += h; bot += b; unique += u;
            foreach (var (dimension, values) in ScanStatRows.ReadBreakdown(row))
                foreach (var (value, count) in values)
                    ScanStatRows.AddTo(breakdown, dimension, value, count);
            days.Add(new JsonObject { ["date"] = $"{day[..4]}-{day[4..6]}-{day[6..]}", ["dayStart"] = ScanStatRows.DayStartMs(day), ["totalScans"] = t, ["humanScans"] = h, ["botScans"] = b, ["uniqueVisitors"] = u });
        }
        var result = new JsonObject
        {
            ["qrId"] = qrId,
            ["from"] = from,
            ["to"] = to,
            ["totalScans"] = total,
            ["humanScans"] = human,
            ["botScans"] = bot,
            ["dailyUniqueVisitors"] = unique,
            ["breakdown"] = ScanStatRows.BreakdownJson(breakdown),
            ["days"] = days,
        };
        return Envelope.OkNode(result);
    }

    private static long? QueryLong(HttpContext context, string name)
    {
        var raw = context.Request.Query[name].ToString();
        if (raw.Length == 0) return null;
        if (!long.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value > 9_000_000_000_000L)
            throw ApiProblem.BadRequest($"{name} must be epoch milliseconds.");
        return value;
    }
}
