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
public sealed class AnalyticsApi(StorageAccount storage, Leads.LeadStore leads)
{
    public const int DetailedDays = 30;
    public const int DetailedMaxItems = 1000;
    public const int BulkMaxIds = 100;
    /// <summary>Scans per page of detailed/all unless the request's limit says fewer or more (at most <see cref="BulkMaxPageSize"/>).</summary>
    public const int BulkPageSize = 1000;
    public const int BulkMaxPageSize = 5000;
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
        var (visibility, total, _) = await VisibilityAndCreationAsync(storage, stats, teamId, qrId, ct);
        return (visibility, total);
    }

    /// <summary><see cref="VisibilityAsync"/> plus the code's creation time (its row in the team's partition; 0 when that is gone).</summary>
    private static async Task<(Visibility, TableEntity?, long CreatedAt)> VisibilityAndCreationAsync(StorageAccount storage, TableClient stats, string teamId, string qrId,
        CancellationToken ct)
    {
        if (!ScanStatRows.IsKeySafe(qrId)) return (Visibility.NotVisible, null, 0);
        var totalTask = stats.GetEntityIfExistsAsync<TableEntity>(qrId, ScanStatRows.Total, cancellationToken: ct);
        var qrTask = storage.TeamData.GetEntityIfExistsAsync<TableEntity>(teamId, "qr|" + qrId, select: ["RowKey", "CreatedAt"], cancellationToken: ct);
        var (total, qr) = (await totalTask, await qrTask);
        var createdAt = qr.HasValue ? qr.Value!.GetInt64("CreatedAt") ?? 0 : 0;
        if (total.HasValue) return total.Value!.GetString("TeamId") == teamId ? (Visibility.Scanned, total.Value, createdAt) : (Visibility.NotVisible, null, 0);
        return (qr.HasValue ? Visibility.NeverScanned : Visibility.NotVisible, null, createdAt);
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
        // The public client (QRTRAC's OpenAPI) answers an unknown or foreign code with 400 and this message.
        if (visibility == Visibility.NotVisible) throw ApiProblem.BadRequest("Invalid QR ID or unauthorized");
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
        await foreach (var row in CodeEventsNewestFirstAsync(storage, stats, qrId, from, to, ct))
        {
            if (row.GetString("TeamId") != teamId) continue;
            if (into.Count >= limit) return;
            into.Add(ScanData(qrId, row));
        }
    }

    /// <summary>A code's events in [from, to], newest first, read lazily: the days with scans (one range query), then each day's shards as reached.</summary>
    internal static async IAsyncEnumerable<TableEntity> CodeEventsNewestFirstAsync(StorageAccount storage, TableClient stats, string qrId, long from, long to,
        [EnumeratorCancellation] CancellationToken ct)
    {
        var events = storage.Table(storage.Names.ScanEvents);
        var days = await DayRowsAsync(stats, qrId, ScanStatRows.DayOf(from), ScanStatRows.DayOf(to), ct);
        foreach (var day in Enumerable.Reverse(days))
        {
            var dayKey = day.RowKey[ScanStatRows.DayPrefix.Length..];
            var shards = ScanEventRows.ShardsIn(day.GetInt32(ScanStatRows.EventShards));
            // The day row says whether later steps added anything to its scans: only then one more key range, read once per day.
            var outcomes = (day.GetInt64("Located") ?? 0) + (day.GetInt64("Declined") ?? 0) > 0 ? await OutcomesAsync(stats, qrId, dayKey, ct) : null;
            await foreach (var row in DayEventsNewestFirstAsync(events, qrId, dayKey, shards, from, to, ct))
            {
                if (outcomes is not null && row.GetString("ScanId") is { } scanId && outcomes.TryGetValue(scanId, out var added))
                    foreach (var (column, value) in added) row[column] = value;
                yield return row;
            }
        }
    }

    /// <summary>scanId → the columns later steps added to that scan (Latitude, Longitude; Declined).</summary>
    private static async Task<Dictionary<string, List<(string, object)>>> OutcomesAsync(TableClient stats, string qrId, string day, CancellationToken ct)
    {
        var result = new Dictionary<string, List<(string, object)>>(StringComparer.Ordinal);
        await foreach (var row in stats.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {ScanStatRows.OutcomePartition(qrId, day)}"), cancellationToken: ct))
        {
            var parts = row.RowKey.Split('|');
            if (parts.Length != 2) continue;
            if (!result.TryGetValue(parts[0], out var columns)) result[parts[0]] = columns = [];
            if (parts[1] == Scans.ScanEvent.Kinds.Location && row.GetDouble("Latitude") is { } la && row.GetDouble("Longitude") is { } lo)
                columns.AddRange([("Latitude", la), ("Longitude", lo)]);
            else if (parts[1] == Scans.ScanEvent.Kinds.Declined) columns.Add(("Declined", true));
        }
        return result;
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

    private static JsonObject ScanData(string qrId, TableEntity row)
    {
        var data = ScanFields(qrId, row);
        // Only where the visitor shared one (docs/scans.md#location): never a guess.
        if (row.GetDouble("Latitude") is { } latitude && row.GetDouble("Longitude") is { } longitude)
        {
            data["latitude"] = latitude;
            data["longitude"] = longitude;
        }
        if (row.GetBoolean("Declined") == true) data["declined"] = true;
        return data;
    }

    private static JsonObject ScanFields(string qrId, TableEntity row) => new()
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

    /// <summary>
    /// Any time range (the public client's own example asks for a year): scans of all the codes merged newest first and
    /// answered in pages; reading stops once a page is full, so a page costs one day-row range query per code plus the
    /// event partitions of the days it reaches, whatever the range. nextCursor (null on the last page) continues.
    /// </summary>
    [Function("AnalyticsDetailedAll")]
    [EndpointSummary("Scans of up to 100 codes in any time window, newest first, in pages of limit (default 1,000, at most 5,000); nextCursor continues")]
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
        var limit = body.OptionalLong("limit") ?? BulkPageSize;
        if (limit is < 1 or > BulkMaxPageSize) throw ApiProblem.BadRequest($"limit must be from 1 to {BulkMaxPageSize}.");
        var after = body.OptionalString("cursor", 1024) is { } cursor ? ScanPosition.Parse(cursor) : null;
        if (after is not null) end = Math.Min(end, after.ScanTime);

        var teamId = context.Caller().TeamId;
        var stats = storage.Table(storage.Names.ScanStats);
        var visible = await Task.WhenAll(qrIds.Distinct().Select(async qrId => (qrId, (await VisibilityAsync(storage, stats, teamId, qrId, ct)).Item1)));
        var streams = visible.Where(v => v.Item2 == Visibility.Scanned)
            .Select(v => (v.qrId, Events: CodeEventsNewestFirstAsync(storage, stats, v.qrId, start, end, ct).GetAsyncEnumerator(ct))).ToList();
        var scans = new List<JsonObject>();
        ScanPosition? last = null;
        var more = false;
        try
        {
            // A k-way merge of the codes' newest-first streams, ordered by (scanTime desc, qrId, RowKey).
            var heads = new PriorityQueue<(string QrId, IAsyncEnumerator<TableEntity> Events), ScanPosition>();
            async Task AdvanceAsync((string QrId, IAsyncEnumerator<TableEntity> Events) stream)
            {
                while (await stream.Events.MoveNextAsync())
                {
                    var row = stream.Events.Current;
                    var position = new ScanPosition(row.GetInt64("ScanTime") ?? 0, stream.QrId, row.RowKey);
                    if (row.GetString("TeamId") != teamId || (after is not null && position.CompareTo(after) <= 0)) continue;
                    heads.Enqueue(stream, position);
                    return;
                }
            }
            await Task.WhenAll(streams.Select(AdvanceAsync));
            while (heads.TryDequeue(out var stream, out var position))
            {
                if (scans.Count == limit)
                {
                    more = true;
                    break;
                }
                scans.Add(ScanData(stream.QrId, stream.Events.Current));
                last = position;
                await AdvanceAsync(stream);
            }
        }
        finally
        {
            foreach (var stream in streams) await stream.Events.DisposeAsync();
        }
        return Results.Json(new { success = true, data = scans, nextCursor = more ? last!.Format() : null }, ApiJson.QrApi);
    }

    /// <summary>Where a page of detailed/all ended: the order is scanTime descending, then qrId, then the event's RowKey.</summary>
    private sealed record ScanPosition(long ScanTime, string QrId, string RowKey) : IComparable<ScanPosition>
    {
        public int CompareTo(ScanPosition? other)
        {
            if (other is null) return 1;
            var byTime = other.ScanTime.CompareTo(ScanTime); // newer first
            if (byTime != 0) return byTime;
            var byCode = string.CompareOrdinal(QrId, other.QrId);
            return byCode != 0 ? byCode : string.CompareOrdinal(RowKey, other.RowKey);
        }

        public string Format() => Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{ScanTime}|{QrId}|{RowKey}")).TrimEnd('=').Replace('+', '-').Replace('/', '_');

        public static ScanPosition Parse(string cursor)
        {
            try
            {
                var text = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(cursor.Replace('-', '+').Replace('_', '/').PadRight(cursor.Length + (4 - cursor.Length % 4) % 4, '=')));
                var parts = text.Split('|', 3);
                if (parts.Length == 3 && long.TryParse(parts[0], CultureInfo.InvariantCulture, out var time) && time >= 0) return new ScanPosition(time, parts[1], parts[2]);
            }
            catch (FormatException) { }
            throw ApiProblem.BadRequest("cursor is not valid: pass the nextCursor of the previous page.");
        }
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
            var (visibility, total, createdAt) = await VisibilityAndCreationAsync(storage, stats, teamId, qrId, ct);
            if (visibility == Visibility.NotVisible) return null;
            var leadCounts = leads.CountsAsync(teamId, qrId, today, yesterday, ct);
            var days = visibility == Visibility.Scanned ? await DayRowsAsync(stats, qrId, yesterday, today, ct) : [];
            var lead = await leadCounts;
            TableEntity? Day(string d) => days.FirstOrDefault(r => r.RowKey == ScanStatRows.Day(d));
            return new JsonObject
            {
                ["id"] = qrId,
                ["totalScans"] = total?.GetInt64("Total") ?? 0,
                ["todayScans"] = Day(today)?.GetInt64("Total") ?? 0,
                ["yesterdayScans"] = Day(yesterday)?.GetInt64("Total") ?? 0,
                ["totalLeadsCount"] = lead.Total,
                ["leadsTodayCount"] = lead.Today,
                ["leadsYesterdayCount"] = lead.Yesterday,
                ["createdAt"] = createdAt > 0 ? createdAt : total?.GetInt64("FirstScanAt") ?? 0, // the code's row is gone: its first scan is the best we know
                ["updatedAt"] = total?.GetInt64("LastScanAt") ?? 0,
                ["leadsUpdatedAt"] = lead.UpdatedAt,
                ["todayDate"] = todayText,
                ["leadsTodayDate"] = todayText,
                ["humanScans"] = total?.GetInt64("Human") ?? 0,
                ["botScans"] = total?.GetInt64("Bot") ?? 0,
                ["todayUniqueVisitors"] = Day(today)?.GetInt64("Unique") ?? 0,
                ["yesterdayUniqueVisitors"] = Day(yesterday)?.GetInt64("Unique") ?? 0,
                ["scansWithLocation"] = total?.GetInt64("Located") ?? 0,
                ["declinedScans"] = total?.GetInt64("Declined") ?? 0,
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
        var to = RequestJson.QueryEpochMs(context, "to") ?? now;
        var from = RequestJson.QueryEpochMs(context, "from") ?? to - (DetailedDays - 1) * DayMs - to % DayMs;
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
}
