using System.Globalization;
using System.Text.Json.Nodes;
using Azure.Data.Tables;
using Microsoft.Azure.Functions.Worker;
using QrFunctions.Analytics;
using QrFunctions.Api;
using QrFunctions.Auth;
using QrFunctions.Bulk;
using QrFunctions.Qrs;
using QrFunctions.Storage;

namespace QrFunctions.Exports;

/// <summary>
/// CSV exports of the caller's team (viewer role), streamed (<see cref="CsvResponse"/>): rows are written as they are read, so
/// neither the team's codes nor a code's scans are ever held in memory at once. Everything that can refuse the call (its
/// parameters, the code or batch it names) is checked before the first byte, so a refusal is the usual envelope; a storage
/// failure after the first rows breaks the connection off, so a cut file never looks whole.
/// </summary>
[ApiAccess(ApiSurface.QrApi), Tags("Exports")]
public sealed class ExportsApi(StorageAccount storage, QrStore store, QrListing listing)
{

    private static readonly string[] CodeColumns =
    [
        "id", "displayId", "name", "qrType", "qrRedirectUrl", "scanUrl", "qrImageUrl", "tags", "folderId", "folderIds", "templateId", "batchId",
        "approvalStatus", "expiryDate", "createdAt", "updatedAt", "metadata:json", "settings:json",
    ];

    /// <summary>The list's filters and order (search, folderId, sortBy, sortOrder); columns a bulk CSV upload reads back (docs/bulk.md).</summary>
    [Function("QrsExport"), EndpointSummary("The team's QR codes as CSV, streamed; the list's search, folderId, sortBy and sortOrder apply")]
    public async Task<IResult> CodesAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "api/qrs-api/export.csv")] HttpRequest req)
    {
        var context = req.HttpContext;
        var query = QrListQuery.From(req);
        var teamId = context.Caller().TeamId;

        await using var codes = listing.AllAsync(teamId, query, context.RequestAborted).GetAsyncEnumerator(context.RequestAborted);
        var more = await codes.MoveNextAsync(); // the first read before the first byte: an outage here is still a 503
        await using var csv = await CsvResponse.StartAsync(context, $"qr-codes-{teamId}.csv", CodeColumns);
        for (; more; more = await codes.MoveNextAsync())
        {
            var qr = codes.Current.View();
            await csv.RowAsync(
            [
                Text(qr["id"]), Text(qr["displayId"]), Text(qr["name"]), Text(qr["qrType"]), Text(qr["qrRedirectUrl"]), Text(qr["scanUrl"]), Text(qr["qrImageUrl"]),
                List(qr["tags"]), Text(qr["folderId"]), List(qr["folderIds"]), Text(qr["templateId"]), Text(qr["batchId"]), Text(qr["approvalStatus"]),
                Text(qr["expiryDate"]), Text(qr["createdAt"]), Text(qr["updatedAt"]), qr["metadata"]?.ToJsonString(), qr["settings"]?.ToJsonString(),
            ]);
        }
        await csv.FlushAsync();
        return Results.Empty;
    }

    private static readonly string[] ScanColumns =
        ["qrId", "displayId", "scanTime", "scanTimeUtc", "device", "os", "browser", "country", "city", "ipAddress", "referrer", "language", "isBot"];

    /// <summary>The scans of one code, or of every code of a bulk batch (code by code, in the batch's order), newest first within a code.</summary>
    [Function("AnalyticsScansCsv")]
    [EndpointSummary("Scans of a code (qrId) or of a bulk batch (batchId) between from and to (epoch ms, default: all) as CSV, streamed, newest first per code")]
    public async Task<IResult> ScansAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "api/analytics-api/scans.csv")] HttpRequest req)
    {
        var context = req.HttpContext;
        var ct = context.RequestAborted;
        var qrId = context.Request.Query["qrId"].ToString();
        var batchId = context.Request.Query["batchId"].ToString();
        if ((qrId.Length > 0) == (batchId.Length > 0)) throw ApiProblem.BadRequest("Name either qrId or batchId.");
        var to = RequestJson.QueryEpochMs(context, "to") ?? Clock.NowMs();
        var from = RequestJson.QueryEpochMs(context, "from") ?? 0;
        if (from > to) throw ApiProblem.BadRequest("from must not be after to.");
        var teamId = context.Caller().TeamId;

        var codes = new List<(string QrId, string DisplayId)>();
        if (qrId.Length > 0)
        {
            if (!ScanStatRows.IsKeySafe(qrId) || !RequestJson.IsStorableId(qrId)) throw ApiProblem.BadRequest(RequestJson.NotAnId("qrId"));
            var qr = await store.FindAsync(teamId, qrId, ct) ?? throw ApiProblem.NotFound("QR code not found.");
            codes.Add((qr.Id, qr.DisplayId));
        }
        else
        {
            if (!RequestJson.IsStorableId(batchId)) throw ApiProblem.BadRequest(RequestJson.NotAnId("batchId"));
            var batches = storage.Table(storage.Names.BulkBatches);
            var header = await batches.GetEntityIfExistsAsync<TableEntity>(batchId, BulkRows.Header, ["TeamId"], ct);
            if (!header.HasValue || header.Value!.GetString("TeamId") != teamId) throw ApiProblem.NotFound("Batch not found.");
            await foreach (var item in batches.QueryAsync<TableEntity>(TableQueries.PrefixFilter(batchId, BulkRows.ItemPrefix), select: ["State", "QrId", "DisplayId"], cancellationToken: ct))
                if (item.GetString("State") == BulkRows.States.Done) codes.Add((item.GetString("QrId"), item.GetString("DisplayId")));
        }

        var stats = storage.Table(storage.Names.ScanStats);
        await using var csv = await CsvResponse.StartAsync(context, $"scans-{(qrId.Length > 0 ? qrId : batchId)}.csv", ScanColumns);
        foreach (var (code, displayId) in codes)
        {
            await foreach (var scan in AnalyticsApi.CodeEventsNewestFirstAsync(storage, stats, code, from, to, ct))
            {
                if (scan.GetString("TeamId") != teamId) continue;
                var time = scan.GetInt64("ScanTime") ?? 0;
                await csv.RowAsync(
                [
                    code, displayId, time.ToString(CultureInfo.InvariantCulture),
                    DateTimeOffset.FromUnixTimeMilliseconds(time).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
                    scan.GetString("Device"), scan.GetString("Os"), scan.GetString("Browser"), scan.GetString("Country"), scan.GetString("City"),
                    scan.GetString("IpAddress"), scan.GetString("Referrer"), scan.GetString("Language"), scan.GetBoolean("IsBot") == true ? "true" : "false",
                ]);
            }
        }
        await csv.FlushAsync();
        return Results.Empty;
    }

    private static string? Text(JsonNode? node) => node switch
    {
        null => null,
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        _ => node.ToJsonString(),
    };

    /// <summary>A list as the bulk upload reads it back: items separated by "|".</summary>
    private static string? List(JsonNode? node) => node is JsonArray items ? string.Join('|', items.Select(Text)) : Text(node);
}
