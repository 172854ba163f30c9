using Microsoft.Azure.Functions.Worker;
using System.Text;
using System.Text.Json.Nodes;
using Azure.Data.Tables;
using QrFunctions.Api;
using QrFunctions.Auth;
using QrFunctions.Organizations;
using QrFunctions.Storage;

namespace QrFunctions.AuditLogs;

/// <summary>
/// GET /v1/audit-logs: the caller's workspace's entries, newest first; for owners merged with the
/// organization's own entries (organizations.*, kept in the org partition next to the org row they
/// describe). Both use the same RowKey scheme, so one cursor (the last RowKey returned) pages the merge;
/// entries written later sort before it (inverted time), so paging never skips or repeats.
/// </summary>
[ApiAccess(ApiSurface.V1), Tags("Audit logs")]
public sealed class AuditLogsApi(StorageAccount storage)
{
    [Function("AuditLogsList"), OwnerReachesArchivedTeam, EndpointSummary("Audit entries of the workspace: filter by resource_type, resource_id, action; cursor paging")]
    public async Task<IResult> ListAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/audit-logs")] HttpRequest req)
    {
        var context = req.HttpContext;
        var caller = context.Caller();
        var limit = RequestJson.QueryInt(context, "limit", 50, 1, 100);
        var after = AuditEntry.RowPrefix;
        if (context.Request.Query["cursor"].ToString() is { Length: > 0 } cursor)
        {
            try { after = Encoding.UTF8.GetString(Convert.FromBase64String(cursor.Replace('-', '+').Replace('_', '/').PadRight(cursor.Length + (4 - cursor.Length % 4) % 4, '='))); }
            catch (FormatException) { throw ApiProblem.BadRequest("cursor is not valid."); }
            if (!after.StartsWith(AuditEntry.RowPrefix, StringComparison.Ordinal)) throw ApiProblem.BadRequest("cursor is not valid.");
        }
        var conditions = $"RowKey gt '{Escape(after)}' and RowKey lt '{Escape(TableQueries.PrefixEnd(AuditEntry.RowPrefix))}'";
        foreach (var (param, column) in new[] { ("resource_type", "ResourceType"), ("resource_id", "ResourceId"), ("action", "Action") })
            if (context.Request.Query[param].ToString() is { Length: > 0 } v)
                conditions += $" and {column} eq '{Escape(v.Length > 256 ? throw ApiProblem.BadRequest($"{param} is too long.") : v)}'";

        var sources = new List<Task<List<AuditEntry>>> { TakeAsync(storage.TeamData, $"PartitionKey eq '{Escape(caller.TeamId)}' and {conditions}", limit + 1, context.RequestAborted) };
        if (caller.Role == Role.Owner)
            sources.Add(TakeAsync(storage.Orgs, $"PartitionKey eq '{Escape(caller.OrgId)}' and {conditions}", limit + 1, context.RequestAborted));
        var entries = (await Task.WhenAll(sources)).SelectMany(x => x).OrderBy(e => e.RowKey, StringComparer.Ordinal).Take(limit + 1).ToList();
        var next = entries.Count > limit
            ? Convert.ToBase64String(Encoding.UTF8.GetBytes(entries[limit - 1].RowKey)).TrimEnd('=').Replace('+', '-').Replace('/', '_')
            : null;
        return Envelope.V1List(entries.Take(limit).Select(View), next);
    }

    private static async Task<List<AuditEntry>> TakeAsync(TableClient table, string filter, int count, CancellationToken ct)
    {
        var entries = new List<AuditEntry>(count);
        await foreach (var e in table.QueryAsync<AuditEntry>(filter, maxPerPage: count, cancellationToken: ct))
        {
            entries.Add(e);
            if (entries.Count == count) break;
        }
        return entries;
    }

    private static string Escape(string value) => value.Replace("'", "''");

    public static object View(AuditEntry e) => new
    {
        id = e.Id, actor_type = e.ActorType, actor_id = e.ActorId, actor_email = e.ActorEmail, action = e.Action, resource_type = e.ResourceType, resource_id = e.ResourceId,
        changes = JsonNode.Parse(e.Changes), created_at = OrganizationsApi.Iso(e.CreatedAtMs),
    };
}
