using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Azure.Functions.Worker;
using QrFunctions.Api;
using QrFunctions.Auth;
using QrFunctions.Qrs;
using QrFunctions.Storage;

namespace QrFunctions.Leads;

/// <summary>
/// The leads a code's form collected (settings.leadCapture; docs/scans.md#lead-capture): a page of them, all of them as CSV,
/// and erasure of one. Personal data, so editor and up only; a deleted code's leads stay readable and erasable.
/// </summary>
[ApiAccess(ApiSurface.QrApi, Role.Editor), Tags("Leads")]
public sealed class LeadsApi(LeadStore leads, QrStore store)
{
    private const string Route = "api/qrs-api/{id}/leads";

    [Function("QrsLeads")]
    [EndpointSummary("The code's leads, newest first: limit (1-100, 50), cursor (nextCursor of the last page); format=csv answers all of them as CSV")]
    public async Task<IResult> ListAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = Route)] HttpRequest req, string id)
    {
        var context = req.HttpContext;
        var ct = context.RequestAborted;
        var teamId = context.Caller().TeamId;
        var format = context.Request.Query["format"].ToString();
        if (format is not ("" or "json" or "csv")) throw ApiProblem.BadRequest("format must be json or csv.");
        var limit = RequestJson.QueryInt(context, "limit", 50, 1, 100);
        var cursor = context.Request.Query["cursor"].ToString();
        string? after = null;
        if (cursor.Length > 0)
        {
            after = Decode(cursor);
            if (after is null || !after.StartsWith(LeadKeys.Prefix(id), StringComparison.Ordinal))
                throw ApiProblem.BadRequest("cursor is not valid: pass the nextCursor of the previous page.");
        }
        if (await store.FindAsync(teamId, id, ct) is null) throw ApiProblem.NotFound("QR code not found.");

        if (format == "csv")
        {
            var csv = new StringBuilder(string.Join(',', LeadStore.CsvColumns)).Append("\r\n");
            string? next = null;
            do
            {
                var (page, more) = await leads.PageAsync(teamId, id, 100, next, ct);
                foreach (var row in page)
                    csv.Append(string.Join(',', LeadStore.CsvColumns.Select(c => LeadStore.CsvField(LeadStore.Json(row)[c]?.ToString() ?? "")))).Append("\r\n");
                next = more;
            } while (next is not null);
            context.Response.Headers.ContentDisposition = $"attachment; filename=\"leads-{id}.csv\"";
            return Results.Text(csv.ToString(), "text/csv; charset=utf-8", Encoding.UTF8);
        }

        var now = Clock.NowMs();
        var counts = leads.CountsAsync(teamId, id, Analytics.ScanStatRows.DayOf(now), Analytics.ScanStatRows.DayOf(now - 86_400_000L), ct);
        var (rows, nextKey) = await leads.PageAsync(teamId, id, limit, after, ct);
        return Envelope.OkNode(new JsonObject
        {
            ["leads"] = new JsonArray(rows.Select(r => (JsonNode)LeadStore.Json(r)).ToArray()),
            ["nextCursor"] = nextKey is null ? null : Encode(nextKey),
            ["totalCount"] = (await counts).Total,
        });
    }

    [Function("QrsLeadDelete"), EndpointSummary("Erase a lead (an erasure request); audited as leads.deleted")]
    public async Task<IResult> DeleteAsync([HttpTrigger(AuthorizationLevel.Anonymous, "delete", Route = Route + "/{leadId}")] HttpRequest req, string id, string leadId)
    {
        var context = req.HttpContext;
        var caller = context.Caller();
        if (await store.FindAsync(caller.TeamId, id, context.RequestAborted) is null) throw ApiProblem.NotFound("QR code not found.");
        await leads.DeleteAsync(caller, id, leadId, context.RequestAborted);
        return Envelope.OkNode(new JsonObject { ["leadId"] = leadId, ["deleted"] = true });
    }

    private static string Encode(string rowKey) => Convert.ToBase64String(Encoding.UTF8.GetBytes(rowKey)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static string? Decode(string cursor)
    {
        try
        {
            var padded = cursor.Replace('-', '+').Replace('_', '/');
            padded = padded.PadRight(padded.Length + (4 - padded.Length % 4) % 4, '=');
            var text = Encoding.UTF8.GetString(Convert.FromBase64String(padded));
            return RequestJson.IsStorableId(text, 1000) ? text : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
