using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Azure.Data.Tables;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Net.Http.Headers;
using QrFunctions.Api;
using QrFunctions.Auth;
using QrFunctions.Qrs;
using QrFunctions.Scans;
using QrFunctions.Storage;
using QrFunctions.Templates;
using QrFunctions.Webhooks;

namespace QrFunctions.Bulk;

/// <summary>
/// Bulk create (docs/bulk.md): up to 1,000 code definitions as JSON or CSV are validated together, every bad row answered at
/// once (nothing created); a good batch is stored in bulkbatches and one message queued, and the CreateBulkCodes function
/// creates the codes in the background (images rendered there). The status call reads the batch's rows.
/// </summary>
[ApiAccess(ApiSurface.QrApi), Tags("QR codes")]
public sealed partial class BulkApi(StorageAccount storage, QrStore store, PlanCatalog plans, WebhookSecrets secrets)
{
    private const string Route = "api/qrs-api/bulk";
    /// <summary>Largest body: 1,000 codes of about 4 KB each (a single create allows 256 KB, but a print run's codes are small).</summary>
    public const long MaxBodyBytes = 4 * 1024 * 1024;
    /// <summary>Item rows per transaction: the entity-group limit is 100 operations and 4 MiB.</summary>
    private const int RowsPerTransaction = 100;
    private const long BytesPerTransaction = 3 * 1024 * 1024;

    [Function("QrsBulkCreate"), Requires(Role.Editor)]
    [EndpointSummary("Create up to 1,000 QR codes at once: JSON {\"codes\":[…]} or CSV (text/csv, or one file in a multipart form); 202 with a batchId, or 400 listing every bad row")]
    public async Task<IResult> CreateAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = Route)] HttpRequest req)
    {
        var context = req.HttpContext;
        var ct = context.RequestAborted;
        var caller = context.Caller();
        var team = caller.Team!;
        var errors = new List<BulkRowError>();
        var (rows, source) = await ReadRowsAsync(context, errors);
        if (rows.Count == 0) throw ApiProblem.BadRequest("The batch has no codes.");
        if (rows.Count > BulkRows.MaxItems) throw ApiProblem.BadRequest($"A batch holds at most {BulkRows.MaxItems:N0} codes; this one has {rows.Count:N0}.");

        var requests = new JsonObject?[rows.Count];
        for (var i = 0; i < rows.Count; i++)
        {
            if (rows[i] is not { } row) continue;
            if (System.Text.Encoding.UTF8.GetByteCount(row.ToJsonString()) > ApiErrors.MaxJsonBodyBytes)
            {
                errors.Add(new BulkRowError(i + 1, null, $"The code is larger than {ApiErrors.MaxJsonBodyBytes / 1024} KB, the limit of a single create."));
                continue;
            }
            try { requests[i] = QrRequest.Validate(row, team); }
            catch (ApiProblem problem) { errors.Add(new BulkRowError(i + 1, FieldOf(problem.Message), problem.Message)); }
        }
        await CheckDisplayIdsAsync(requests, errors, ct);
        await CheckTemplatesAsync(team.Id, requests, errors, ct);
        if (errors.Count > 0)
        {
            var bad = errors.Select(e => e.Row).Distinct().Count();
            return Results.Json(new
            {
                success = false,
                message = $"{bad} of {rows.Count} rows are not valid; nothing was created.",
                errors = errors.OrderBy(e => e.Row).Select(e => new { row = e.Row, field = e.Field, message = e.Message }),
            }, ApiJson.QrApi, statusCode: 400);
        }

        // The plan's limit, as a single create checks it; each code checks it again when it is created (docs/bulk.md).
        if (plans.For(caller.Org!).MaxQrCodesPerTeam is { } max && await store.CountAsync(team.Id, ct) is var count && count + rows.Count > max)
            throw ApiProblem.BadRequest($"QR code limit reached: the {caller.Org!.Plan} plan allows {max} codes per team; the team has {count} and the batch would add {rows.Count}.");

        var batchId = Ids.New("batch");
        var items = new List<TableEntity>(rows.Count);
        for (var i = 0; i < rows.Count; i++) items.Add(ItemRow(batchId, team.Id, i, requests[i]!));
        var table = storage.Table(storage.Names.BulkBatches);
        await Task.WhenAll(Transactions(items).Select(t => table.SubmitTransactionAsync(t, ct)));
        var now = Clock.NowMs();
        await table.AddEntityAsync(new TableEntity(batchId, BulkRows.Header)
        {
            ["TeamId"] = team.Id, ["OrgId"] = caller.OrgId, ["KeyId"] = caller.KeyId, ["KeyScope"] = caller.Key.Scope, ["UserEmail"] = caller.Key.UserEmail,
            ["Role"] = Roles.Name(caller.Role), ["Total"] = rows.Count, ["Source"] = source, ["CreatedAt"] = now,
        }, ct);
        await storage.Queue(storage.Names.BulkCreateQueue).SendMessageAsync(JsonSerializer.Serialize(new BulkWork(batchId, 0, rows.Count)), ct);
        return Envelope.OkNode(new JsonObject
        {
            ["batchId"] = batchId, ["status"] = "queued", ["total"] = rows.Count, ["createdAt"] = now, ["statusUrl"] = $"/{Route}/{batchId}",
        }, 202);
    }

    [Function("QrsBulkStatus")]
    [EndpointSummary("A bulk create's progress (total, done, failed with reasons); when finished, every code's id, displayId, scan and image URL")]
    public async Task<IResult> StatusAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = Route + "/{batchId}")] HttpRequest req, string batchId)
    {
        var context = req.HttpContext;
        var ct = context.RequestAborted;
        var table = storage.Table(storage.Names.BulkBatches);
        var header = await table.GetEntityIfExistsAsync<TableEntity>(batchId, BulkRows.Header, cancellationToken: ct);
        if (!header.HasValue || header.Value!.GetString("TeamId") != context.Caller().TeamId) throw ApiProblem.NotFound("Batch not found.");
        var total = header.Value.GetInt32("Total") ?? 0;

        var codes = new JsonArray();
        var failures = new JsonArray();
        int done = 0, failed = 0;
        long finishedAt = 0;
        await foreach (var item in table.QueryAsync<TableEntity>(TableQueries.PrefixFilter(batchId, BulkRows.ItemPrefix),
                           select: ["RowKey", "State", "QrId", "DisplayId", "ScanUrl", "ImageUrl", "Error", "Field", "DoneAt"], cancellationToken: ct))
        {
            var row = BulkRows.IndexOf(item.RowKey) + 1;
            finishedAt = Math.Max(finishedAt, item.GetInt64("DoneAt") ?? 0);
            switch (item.GetString("State"))
            {
                case BulkRows.States.Done:
                    done++;
                    codes.Add(new JsonObject
                    {
                        ["row"] = row, ["id"] = item.GetString("QrId"), ["displayId"] = item.GetString("DisplayId"),
                        ["scanUrl"] = item.GetString("ScanUrl"), ["qrImageUrl"] = item.GetString("ImageUrl"),
                    });
                    break;
                case BulkRows.States.Failed:
                    failed++;
                    failures.Add(new JsonObject { ["row"] = row, ["field"] = item.GetString("Field"), ["message"] = item.GetString("Error") });
                    break;
            }
        }
        var finished = done + failed == total;
        return Envelope.OkNode(new JsonObject
        {
            ["batchId"] = batchId,
            ["status"] = finished ? "finished" : done + failed == 0 ? "queued" : "running",
            ["total"] = total,
            ["done"] = done,
            ["failed"] = failed,
            ["pending"] = total - done - failed,
            ["createdAt"] = header.Value.GetInt64("CreatedAt"),
            ["finishedAt"] = finished ? finishedAt : null,
            ["failures"] = failures,
            // The codes once every row has its outcome: a print run needs them all, and polling stays small until then.
            ["codes"] = finished ? codes : null,
        });
    }

    /// <summary>The batch's rows: a JSON body's "codes", or a CSV (as the body or as one file of a form); null rows could not be read.</summary>
    private static async Task<(List<JsonObject?> Rows, string Source)> ReadRowsAsync(HttpContext context, List<BulkRowError> errors)
    {
        var request = context.Request;
        if (request.HasFormContentType)
        {
            ApiErrors.LimitBody(context, MaxBodyBytes + 64 * 1024);
            var form = await RequestJson.ReadFormAsync(context);
            var file = form.Files.Count == 1 ? form.Files[0] : throw ApiProblem.BadRequest("Send exactly one CSV file in the form.");
            if (file.Length > MaxBodyBytes) throw new ApiProblem(413, $"The CSV is larger than {MaxBodyBytes / 1024 / 1024} MB.");
            using var buffer = new MemoryStream();
            await file.CopyToAsync(buffer, context.RequestAborted);
            return (BulkCsv.Read(buffer.ToArray(), errors), "csv");
        }
        var type = MediaTypeHeaderValue.TryParse(request.ContentType, out var parsed) ? parsed.MediaType.Value?.ToLowerInvariant() : null;
        if (type == "text/csv")
        {
            ApiErrors.LimitBody(context, MaxBodyBytes);
            using var buffer = new MemoryStream();
            await request.Body.CopyToAsync(buffer, context.RequestAborted);
            if (buffer.Length == 0) throw ApiProblem.BadRequest("The CSV is empty.");
            return (BulkCsv.Read(buffer.ToArray(), errors), "csv");
        }
        if (request.ContentType is not null && type != "application/json")
            throw new ApiProblem(415, "Send JSON ({\"codes\": [ … ]}), text/csv, or a multipart form with one CSV file.");
        var body = await RequestJson.ReadObjectAsync(context, maxBytes: MaxBodyBytes);
        if (body["codes"] is not JsonArray codes) throw ApiProblem.BadRequest("codes is required: an array of code definitions (the fields of POST /api/qrs-api).");
        if (codes.Count > BulkRows.MaxItems) throw ApiProblem.BadRequest($"A batch holds at most {BulkRows.MaxItems:N0} codes; this one has {codes.Count:N0}.");
        var rows = new List<JsonObject?>(codes.Count);
        foreach (var code in codes)
        {
            if (code is not JsonObject o) errors.Add(new BulkRowError(rows.Count + 1, null, "Each code must be a JSON object."));
            rows.Add(code as JsonObject);
        }
        return (rows, "json");
    }

    /// <summary>
    /// A displayId twice in the batch, or one a code already holds, is refused as a single create would refuse it. Each is
    /// reserved again when its code is created, so one taken in between fails that row alone (with the same message).
    /// </summary>
    private async Task CheckDisplayIdsAsync(JsonObject?[] requests, List<BulkRowError> errors, CancellationToken ct)
    {
        var first = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < requests.Length; i++)
        {
            if (requests[i]?["displayId"]?.GetValue<string>() is not { } displayId) continue;
            if (first.TryGetValue(displayId, out var earlier)) errors.Add(new BulkRowError(i + 1, "displayId", $"displayId '{displayId}' is also on row {earlier + 1}."));
            else first[displayId] = i;
        }
        var taken = new System.Collections.Concurrent.ConcurrentBag<BulkRowError>();
        await Parallel.ForEachAsync(first, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = ct }, async (entry, token) =>
        {
            var route = await storage.Routes.GetEntityIfExistsAsync<TableEntity>(entry.Key, QrRoute.Row, ["State"], token);
            if (route.HasValue) taken.Add(new BulkRowError(entry.Value + 1, "displayId", "displayId already exists!"));
        });
        errors.AddRange(taken);
    }

    private async Task CheckTemplatesAsync(string teamId, JsonObject?[] requests, List<BulkRowError> errors, CancellationToken ct)
    {
        var templates = requests.Select(r => r?["templateId"]?.GetValue<string>()).OfType<string>().Distinct(StringComparer.Ordinal).ToList();
        var missing = new System.Collections.Concurrent.ConcurrentDictionary<string, bool>(StringComparer.Ordinal);
        await Parallel.ForEachAsync(templates, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = ct }, async (id, token) =>
        {
            var row = await storage.TeamData.GetEntityIfExistsAsync<TableEntity>(teamId, DesignTemplate.RowPrefix + id, ["RowKey"], token);
            if (!row.HasValue) missing[id] = true;
        });
        for (var i = 0; i < requests.Length; i++)
            if (requests[i]?["templateId"]?.GetValue<string>() is { } id && missing.ContainsKey(id))
                errors.Add(new BulkRowError(i + 1, "templateId", $"templateId '{id}' is not a template of this team."));
    }

    /// <summary>An item as stored until its code is created. A password is sealed (not hashed here: 1,000 PBKDF2 derivations would hold the request for a minute).</summary>
    private TableEntity ItemRow(string batchId, string teamId, int index, JsonObject request)
    {
        var row = new TableEntity(batchId, BulkRows.Item(index)) { ["State"] = BulkRows.States.Pending, ["QrId"] = new BulkItem(batchId, index).QrId };
        if (request["settings"] is JsonObject settings && settings["password"]?.GetValue<string>() is { Length: > 0 } password)
        {
            if (secrets.CurrentKeyId is null) throw new ApiProblem(503, "Codes with passwords cannot be accepted in bulk: the service's secret key is not configured.");
            row["SealedPassword"] = secrets.Seal(teamId, BulkRows.PasswordContext(batchId, index), password);
            settings.Remove("password");
        }
        EntityJson.Write(row, "Request", request);
        return row;
    }

    private static IEnumerable<List<TableTransactionAction>> Transactions(List<TableEntity> items)
    {
        var batch = new List<TableTransactionAction>();
        long bytes = 0;
        foreach (var item in items)
        {
            var size = 1024 + item.Select(p => p.Value).OfType<byte[]>().Sum(b => (long)b.Length) * 4 / 3; // binary travels as base64
            if (batch.Count == RowsPerTransaction || (batch.Count > 0 && bytes + size > BytesPerTransaction))
            {
                yield return batch;
                batch = [];
                bytes = 0;
            }
            batch.Add(new TableTransactionAction(TableTransactionActionType.Add, item));
            bytes += size;
        }
        if (batch.Count > 0) yield return batch;
    }

    /// <summary>The field a validation message names: the API's messages start with it ("qrType is required.", "metadata.links[].url must be …").</summary>
    public static string? FieldOf(string message) => FieldPattern().Match(message) is { Success: true } m ? m.Groups[1].Value : null;

    [GeneratedRegex(@"^([a-z][A-Za-z0-9_]*(?:(?:\[\])?\.[A-Za-z0-9_]+)*(?:\[\])?)[ :]")]
    private static partial Regex FieldPattern();
}
