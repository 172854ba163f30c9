using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Data.Tables;
using QrFunctions.Scans;
using QrFunctions.Storage;

namespace QrFunctions.Analytics;

/// <summary>
/// scanevents table — one row per scan:
///   PartitionKey = "{qrId}|{yyyyMMdd}|{shard}" (UTC day of the scan; shard = first hex digit of the batch id, 0-f),
///   RowKey = "{9999999999999 - scanTime ms, 13 digits}|{batchId}|{index, 3 digits}".
///   Serves "newest first for one code": each shard read in key order is newest first, and a reader merges
///   the 16 shards of a day (AnalyticsApi). Time windows: the days come from the counter rows, the window
///   is a RowKey range. The shard spreads a viral code's day over 16 partitions (2,000 entities/s each, so
///   ~32,000 scans/s per code); one message's rows share a partition, so they are written 100 per
///   transaction. The RowKey is derived from the queue message, so a redelivered message upserts the same
///   rows (idempotent). Columns: TeamId, OrgId, ScanTime, Device, Os, Browser, Country, City, IpAddress
///   (anonymized), Referrer, Language, IsBot, BotReason.
/// </summary>
public static class ScanEventRows
{
    public const string Shards = "0123456789abcdef";

    public static string Partition(string qrId, string day, char shard) => $"{qrId}|{day}|{shard}";
    /// <summary>Batch ids are random hex, so their first digit spreads messages evenly over the shards.</summary>
    public static string Partition(string qrId, string day, string batchId) => Partition(qrId, day, batchId[0]);

    /// <summary>The batch's shard as a bit of the day row's EventShards mask.</summary>
    public static int ShardBit(string batchId) => 1 << Shards.IndexOf(batchId[0]);

    /// <summary>The shards a day row says hold events; all 16 for rows written before the mask existed.</summary>
    public static IEnumerable<char> ShardsIn(int? mask) => Shards.Where((_, i) => mask is null || (mask.Value & (1 << i)) != 0);
    public static string InvertedTime(long ms) => (9_999_999_999_999L - ms).ToString("D13", CultureInfo.InvariantCulture);
    public static string Row(long ms, string batchId, int index) => $"{InvertedTime(ms)}|{batchId}|{index:D3}";
}

/// <summary>
/// scanstats table — counters, all in the code's own partition so one entity-group transaction updates
/// them and marks the message applied:
///   PartitionKey = qrId, RowKey = "total":            TeamId, OrgId, Total, Human, Bot, FirstScanAt, LastScanAt (overview, ownership check);
///   PartitionKey = qrId, RowKey = "day|{yyyyMMdd}":   TeamId, Total, Human, Bot, Unique, Breakdown (JSON: dimension → value → count, human scans),
///     EventShards (bit i set: scanevents shard i of that day holds events, so readers skip the empty ones);
///   PartitionKey = qrId, RowKey = "counted|{yyyyMMdd}|{batchId}": marker that this message's counts are in (same transaction as
///     the counts); the day is the UTC day of the message's newest scan, so a redelivery derives the same key (read by point lookups:
///     an OR of RowKeys in one filter is a partition scan) and markers sort by age, so the counter transaction range-reads those
///     past <see cref="MarkerRetention"/> and deletes them. Builds before 2026-11-23 wrote "applied|{batchId}": still checked, never pruned.
/// Unique visitors — PartitionKey = "{qrId}|{yyyyMMdd}|v{first hex digit of the hash}", RowKey = visitor hash,
///   column FirstBatch: inserted if absent; a visitor is new for the message whose batch id is in FirstBatch,
///   so a redelivery after a crash still counts the visitors its first attempt inserted. The 16-way split keeps
///   a viral code's sightings below one partition's 2,000 entities/s.
/// </summary>
public static class ScanStatRows
{
    public const string Total = "total";
    public const string DayPrefix = "day|";
    public const string CountedPrefix = "counted|";
    /// <summary>Markers of earlier builds: a message they counted may still be redelivered once after an upgrade.</summary>
    public const string LegacyAppliedPrefix = "applied|";

    /// <summary>
    /// How long a marker is kept after its message's newest scan: the message was sent after that scan and lives at
    /// most <see cref="ScanBatch.TimeToLive"/> in the queue, so no redelivery comes later. A day more for clock skew and day rounding.
    /// </summary>
    public static readonly TimeSpan MarkerRetention = ScanBatch.TimeToLive + TimeSpan.FromDays(1);

    /// <summary>A message whose newest scan is older than this cannot come from the queue (a replay from the poison queue can): its marker may be pruned, so it is refused.</summary>
    public static readonly TimeSpan RedeliveryHorizon = ScanBatch.TimeToLive + TimeSpan.FromHours(1);

    public static string Counted(string newestScanDay, string batchId) => $"{CountedPrefix}{newestScanDay}|{batchId}";
    public static string LegacyApplied(string batchId) => LegacyAppliedPrefix + batchId;
    /// <summary>Markers sorting before this one are past <see cref="MarkerRetention"/>.</summary>
    public static string FirstKeptMarker(long nowMs) => CountedPrefix + DayOf(nowMs - (long)MarkerRetention.TotalMilliseconds);
    public const string EventShards = "EventShards";

    public static string Day(string day) => DayPrefix + day;

    /// <summary>What later steps added to a code's scans of a day (position, age declined): one row per scan and kind.</summary>
    public static string OutcomePartition(string qrId, string day) => $"{qrId}|{day}|o";
    public static string Outcome(string scanId, string kind) => $"{scanId}|{kind}";
    /// <summary>The counter column of a follow-up kind in the total and day rows: Located (scans with a shared position), Declined (age gate said no).</summary>
    public static string OutcomeColumn(string kind) => kind == ScanEvent.Kinds.Location ? "Located" : "Declined";
    public static string VisitorPartition(string qrId, string day, string hash) => $"{qrId}|{day}|v{hash[0]}";

    public static string DayOf(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms).UtcDateTime.ToString("yyyyMMdd", CultureInfo.InvariantCulture);
    public static long DayStartMs(string day) => new DateTimeOffset(DateTime.ParseExact(day, "yyyyMMdd", CultureInfo.InvariantCulture), TimeSpan.Zero).ToUnixTimeMilliseconds();

    public static readonly string[] Dimensions = ["device", "os", "browser", "country", "referrer", "language"];
    /// <summary>Distinct values kept per dimension and day; the rest are counted under "other" so a row stays small.</summary>
    public const int MaxValuesPerDimension = 50;

    public static Dictionary<string, Dictionary<string, long>> ReadBreakdown(TableEntity row)
    {
        var text = row.GetString("Breakdown");
        var result = text is null ? null : JsonSerializer.Deserialize<Dictionary<string, Dictionary<string, long>>>(text);
        return result ?? [];
    }

    public static void AddTo(Dictionary<string, Dictionary<string, long>> into, string dimension, string value, long count)
    {
        if (!into.TryGetValue(dimension, out var values)) into[dimension] = values = [];
        if (value.Length == 0) value = "unknown";
        if (value.Length > 64) value = value[..64];
        if (!values.ContainsKey(value) && values.Count >= MaxValuesPerDimension) value = "other";
        values[value] = values.GetValueOrDefault(value) + count;
    }

    /// <summary>Host of a referrer, "direct" when there was none, "other" when it is not a URL.</summary>
    public static string ReferrerHost(string referrer) =>
        referrer.Length == 0 ? "direct" : Uri.TryCreate(referrer, UriKind.Absolute, out var uri) && uri.Host.Length > 0 ? uri.Host.ToLowerInvariant() : "other";

    public static JsonObject BreakdownJson(Dictionary<string, Dictionary<string, long>> breakdown)
    {
        var json = new JsonObject();
        foreach (var dimension in Dimensions)
        {
            var values = new JsonObject();
            if (breakdown.TryGetValue(dimension, out var counts))
                foreach (var (value, count) in counts.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal))
                    values[value] = count;
            json[dimension] = values;
        }
        return json;
    }

    /// <summary>PartitionKey/RowKey may not hold these; ids from our own routes never do, a forged message might.</summary>
    public static bool IsKeySafe(string value) =>
        value.Length is > 0 and <= 200 && value.IndexOfAny(['/', '\\', '#', '?', '|']) < 0 && !value.Any(char.IsControl);
}
