using System.Globalization;
using System.Text.Json.Nodes;
using Azure;
using Azure.Data.Tables;
using QrFunctions.Analytics;
using QrFunctions.Api;
using QrFunctions.AuditLogs;
using QrFunctions.Auth;
using QrFunctions.Scans;
using QrFunctions.Storage;

namespace QrFunctions.Leads;

/// <summary>
/// Leads live in the team's partition of teamdata (PartitionKey = teamId), so a lead's erasure commits with its audit entry:
///   lead|{qrId}|{9999999999999 − scanTime, 13 digits}|{scanId}   one lead (one per scan: the key comes from the scan, so a
///                                                                 form sent twice stores and counts it once), newest scan first;
///   leadcount|{qrId}|{yyyyMMdd}|{0-7}                            leads of a UTC day (the day the lead was sent), Count;
///   leadcount|{qrId}|total|{0-7}                                 all the code's leads, Count and LastAt (ms).
/// The lead row and one shard of each counter change in ONE transaction (counter shards ETag-checked), so the overview's
/// counts are exactly the stored leads. "total" sorts after every day, so yesterday, today and the total are one key range.
/// </summary>
public static class LeadKeys
{
    public const int CounterShards = 8;

    public static string Prefix(string qrId) => $"lead|{qrId}|";
    public static string Row(string qrId, ScanRef scan) => $"{Prefix(qrId)}{ScanEventRows.InvertedTime(scan.ScanTime)}|{scan.ScanId}";
    public static string CountPrefix(string qrId) => $"leadcount|{qrId}|";
    public static string Total(string qrId, int shard) => $"{CountPrefix(qrId)}total|{shard}";
    public static string Day(string qrId, string day, int shard) => $"{CountPrefix(qrId)}{day}|{shard}";

    /// <summary>The API's id of a lead: "{scanTime}-{scanId}", from which its row key follows.</summary>
    public static string Id(ScanRef scan) => $"{scan.ScanTime.ToString(CultureInfo.InvariantCulture)}-{scan.ScanId}";

    public static ScanRef? ParseId(string leadId)
    {
        var parts = leadId.Split('-');
        return parts.Length == 2 && parts[0].Length is > 0 and <= 13 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var time)
            && parts[1].Length == 32 && parts[1].All(char.IsAsciiHexDigitLower) ? new ScanRef(time, parts[1]) : null;
    }
}

/// <summary>What a visitor sent: each field as typed (trimmed), empty when not asked.</summary>
public sealed record LeadInput(string Name, string Email, string Phone, string Answer);

public sealed record LeadCounts(long Total, long Today, long Yesterday, long UpdatedAt);

/// <summary>Stores, counts, lists and erases leads (see <see cref="LeadKeys"/>); publishes leads.created.</summary>
public sealed class LeadStore(StorageAccount storage, Webhooks.WebhookPublisher webhooks)
{
    /// <summary>Stores the lead of a scan with its counters; false when that scan's lead was stored before (nothing changes).</summary>
    public async Task<bool> AddAsync(string teamId, string qrId, ScanRef scan, LeadCaptureSettings form, LeadInput input, CancellationToken ct)
    {
        var now = Clock.NowMs();
        var row = new TableEntity(teamId, LeadKeys.Row(qrId, scan))
        {
            ["LeadId"] = LeadKeys.Id(scan), ["QrId"] = qrId, ["ScanId"] = scan.ScanId, ["ScanTime"] = scan.ScanTime, ["CreatedAt"] = now,
            ["Name"] = input.Name, ["Email"] = input.Email, ["Phone"] = input.Phone,
            ["Question"] = form.Fields.Contains("question") ? form.Question : "", ["Answer"] = input.Answer,
            // What the visitor agreed to, as it read when they agreed: a later change of the text does not rewrite it.
            ["ConsentText"] = form.ConsentText,
        };
        try
        {
            await SubmitWithCountersAsync(teamId, qrId, new TableTransactionAction(TableTransactionActionType.Add, row), ScanStatRows.DayOf(now), +1, now, ct);
        }
        catch (TableTransactionFailedException ex) when (ex.FailedTransactionActionIndex == 0 && ex.Status == 409)
        {
            return false;
        }
        await webhooks.PublishAsync(teamId, "leads.created", Json(row, snake: true), ct);
        return true;
    }

    /// <summary>Erases a lead (an erasure request): the row goes, the counters follow, the audit entry records who did it, not what the lead said.</summary>
    public async Task DeleteAsync(Caller caller, string qrId, string leadId, CancellationToken ct)
    {
        var scan = LeadKeys.ParseId(leadId) ?? throw ApiProblem.NotFound("Lead not found.");
        var found = await storage.TeamData.GetEntityIfExistsAsync<TableEntity>(caller.TeamId, LeadKeys.Row(qrId, scan), ["CreatedAt"], ct);
        if (!found.HasValue) throw ApiProblem.NotFound("Lead not found.");
        var created = found.Value!.GetInt64("CreatedAt") ?? scan.ScanTime;
        var delete = new TableTransactionAction(TableTransactionActionType.Delete, new TableEntity(caller.TeamId, LeadKeys.Row(qrId, scan)), found.Value.ETag);
        var audit = new TableTransactionAction(TableTransactionActionType.Add,
            AuditEntry.For(caller.TeamId, caller, "leads.deleted", "leads", leadId, new JsonObject { ["qrId"] = new JsonObject { ["before"] = qrId, ["after"] = null } }));
        try
        {
            await SubmitWithCountersAsync(caller.TeamId, qrId, delete, ScanStatRows.DayOf(created), -1, null, ct, audit);
        }
        catch (TableTransactionFailedException ex) when (ex.FailedTransactionActionIndex == 0 && ex.Status is 404 or 412)
        {
            throw ApiProblem.NotFound("Lead not found."); // erased meanwhile by someone else
        }
    }

    private async Task SubmitWithCountersAsync(string teamId, string qrId, TableTransactionAction change, string day, int delta, long? lastAt, CancellationToken ct,
        TableTransactionAction? extra = null)
    {
        for (var attempt = 0; ; attempt++)
        {
            var keys = new[] { LeadKeys.Total(qrId, Random.Shared.Next(LeadKeys.CounterShards)), LeadKeys.Day(qrId, day, Random.Shared.Next(LeadKeys.CounterShards)) };
            var shards = await Task.WhenAll(keys.Select(k => storage.TeamData.GetEntityIfExistsAsync<TableEntity>(teamId, k, cancellationToken: ct)));
            var actions = new List<TableTransactionAction> { change };
            for (var i = 0; i < keys.Length; i++)
            {
                var row = shards[i].HasValue ? shards[i].Value! : new TableEntity(teamId, keys[i]);
                row["Count"] = (row.GetInt64("Count") ?? 0) + delta;
                if (i == 0 && lastAt is { } at) row["LastAt"] = Math.Max(row.GetInt64("LastAt") ?? 0, at);
                actions.Add(shards[i].HasValue ? new(TableTransactionActionType.UpdateReplace, row, row.ETag) : new(TableTransactionActionType.Add, row));
            }
            if (extra is not null) actions.Add(extra);
            try
            {
                await storage.TeamData.SubmitTransactionAsync(actions, ct);
                return;
            }
            catch (TableTransactionFailedException ex) when (ex.FailedTransactionActionIndex is 1 or 2 && ex.Status is 409 or 412 && attempt < 20)
            {
                await Task.Delay(Random.Shared.Next(2, 10 + 5 * attempt), ct); // another lead moved this shard first: pick shards again
            }
        }
    }

    /// <summary>The code's lead counts: total (and when the last came), today's and yesterday's (UTC): one key range.</summary>
    public async Task<LeadCounts> CountsAsync(string teamId, string qrId, string today, string yesterday, CancellationToken ct)
    {
        long total = 0, todayCount = 0, yesterdayCount = 0, lastAt = 0;
        var from = LeadKeys.CountPrefix(qrId) + yesterday;
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {teamId} and RowKey ge {from} and RowKey lt {LeadKeys.CountPrefix(qrId) + "total}"}");
        await foreach (var row in storage.TeamData.QueryAsync<TableEntity>(filter, select: ["RowKey", "Count", "LastAt"], cancellationToken: ct))
        {
            var count = row.GetInt64("Count") ?? 0;
            var rest = row.RowKey[LeadKeys.CountPrefix(qrId).Length..];
            if (rest.StartsWith("total|", StringComparison.Ordinal))
            {
                total += count;
                lastAt = Math.Max(lastAt, row.GetInt64("LastAt") ?? 0);
            }
            else if (rest.StartsWith(today + "|", StringComparison.Ordinal)) todayCount += count;
            else if (rest.StartsWith(yesterday + "|", StringComparison.Ordinal)) yesterdayCount += count;
        }
        return new LeadCounts(total, todayCount, yesterdayCount, lastAt);
    }

    /// <summary>A page of the code's leads, newest scan first, after <paramref name="afterRowKey"/>; the next page's start (null: last page).</summary>
    public async Task<(List<TableEntity> Leads, string? Next)> PageAsync(string teamId, string qrId, int limit, string? afterRowKey, CancellationToken ct)
    {
        var prefix = LeadKeys.Prefix(qrId);
        var from = afterRowKey is not null && afterRowKey.StartsWith(prefix, StringComparison.Ordinal) ? afterRowKey : null;
        var filter = from is null
            ? TableQueries.PrefixFilter(teamId, prefix)
            : TableClient.CreateQueryFilter($"PartitionKey eq {teamId} and RowKey gt {from} and RowKey lt {TableQueries.PrefixEnd(prefix)}");
        var leads = new List<TableEntity>(limit);
        await foreach (var row in storage.TeamData.QueryAsync<TableEntity>(filter, maxPerPage: Math.Min(1000, limit + 1), cancellationToken: ct))
        {
            if (leads.Count == limit) return (leads, leads[^1].RowKey);
            leads.Add(row);
        }
        return (leads, null);
    }

    public static readonly string[] CsvColumns = ["leadId", "qrId", "createdAt", "scanTime", "name", "email", "phone", "question", "answer", "consentText"];

    public static JsonObject Json(TableEntity row, bool snake = false)
    {
        string N(string camel) => snake ? string.Concat(camel.Select((c, i) => char.IsUpper(c) ? (i > 0 ? "_" : "") + char.ToLowerInvariant(c) : c.ToString())) : camel;
        return new JsonObject
        {
            [N("leadId")] = row.GetString("LeadId"), [N("qrId")] = row.GetString("QrId"),
            [N("createdAt")] = row.GetInt64("CreatedAt") ?? 0, [N("scanTime")] = row.GetInt64("ScanTime") ?? 0,
            [N("name")] = row.GetString("Name") ?? "", [N("email")] = row.GetString("Email") ?? "", [N("phone")] = row.GetString("Phone") ?? "",
            [N("question")] = row.GetString("Question") ?? "", [N("answer")] = row.GetString("Answer") ?? "", [N("consentText")] = row.GetString("ConsentText") ?? "",
        };
    }

    /// <summary>
    /// One CSV field (RFC 4180 quoting). A value a spreadsheet would run as a formula (starting with = + - @, tab or CR)
    /// gets a leading apostrophe: leads are typed by strangers and opened by the team in Excel.
    /// </summary>
    public static string CsvField(string value)
    {
        if (value.Length > 0 && value[0] is '=' or '+' or '-' or '@' or '\t' or '\r') value = "'" + value;
        return value.IndexOfAny([',', '"', '\r', '\n']) >= 0 ? "\"" + value.Replace("\"", "\"\"") + "\"" : value;
    }
}
