using System.Text.Json.Nodes;
using Azure;
using Azure.Data.Tables;
using QrFunctions.Storage;

namespace QrFunctions.AuditLogs;

/// <summary>
/// teamdata table, PartitionKey = teamId (organization-level entries: orgs table, PartitionKey = orgId),
/// RowKey = "audit|{inverted ticks}|{id}": newest first in a plain range scan, and written in the SAME
/// entity-group transaction as the change it records, so a change can never land without its entry.
/// </summary>
public sealed class AuditEntry : ITableEntity
{
    public const string RowPrefix = "audit|";

    public string PartitionKey { get; set; } = "";
    public string RowKey { get; set; } = "";
    public DateTimeOffset? Timestamp { get; set; }
    public ETag ETag { get; set; }

    public string Id { get; set; } = "";
    public string ActorType { get; set; } = "api";
    public string ActorId { get; set; } = "";
    /// <summary>The person who acted (the member a user key belongs to); null for workspace keys, the operator and the system.</summary>
    public string? ActorEmail { get; set; }
    public string Action { get; set; } = "";
    public string ResourceType { get; set; } = "";
    public string ResourceId { get; set; } = "";
    /// <summary>JSON {"field": {"before": …, "after": …}} of changed fields only, secrets redacted.</summary>
    public string Changes { get; set; } = "{}";
    public long CreatedAtMs { get; set; }

    /// <summary>An entry of a call: the key that acted and, for a user key, the person it belongs to.</summary>
    public static AuditEntry For(string partition, Auth.Caller caller, string action, string resourceType, string resourceId, JsonObject? changes)
    {
        var entry = For(partition, caller.ActorType, caller.ActorId, action, resourceType, resourceId, changes);
        entry.ActorEmail = caller.Key.UserEmail;
        return entry;
    }

    /// <summary>Builds an entry for <paramref name="partition"/>; add it to the batch that makes the change.</summary>
    public static AuditEntry For(string partition, string actorType, string actorId, string action, string resourceType, string resourceId, JsonObject? changes)
    {
        var now = DateTimeOffset.UtcNow;
        var id = Ids.New("aud");
        return new AuditEntry
        {
            PartitionKey = partition,
            RowKey = $"{RowPrefix}{DateTimeOffset.MaxValue.UtcTicks - now.UtcTicks:D19}|{id}",
            Id = id,
            ActorType = actorType,
            ActorId = actorId,
            Action = action,
            ResourceType = resourceType,
            ResourceId = resourceId,
            Changes = (changes ?? []).ToJsonString(),
            CreatedAtMs = now.ToUnixTimeMilliseconds(),
        };
    }

    /// <summary>
    /// Submits a change together with its audit entry (one partition). A lost ETag race answers 409 rather
    /// than a 500, and nothing of the batch is written.
    /// </summary>
    public static async Task CommitAsync(TableClient table, IEnumerable<TableTransactionAction> batch, CancellationToken ct)
    {
        try
        {
            await table.SubmitTransactionAsync(batch, ct);
        }
        catch (TableTransactionFailedException ex) when (ex.Status is 412 or 409)
        {
            throw Api.ApiProblem.Conflict("The record changed while it was being updated; try again.");
        }
    }

    private static readonly HashSet<string> Secret = new(StringComparer.OrdinalIgnoreCase)
        { "password", "passwordHash", "secret", "clientSecret", "client_secret", "secretHash", "token", "signingSecret", "signing_secret" };

    /// <summary>Before/after of the fields that differ, with secret-looking fields redacted.</summary>
    public static JsonObject Diff(JsonObject? before, JsonObject? after, params string[] ignore)
    {
        var changes = new JsonObject();
        var keys = (before?.Select(p => p.Key) ?? []).Union(after?.Select(p => p.Key) ?? []);
        foreach (var key in keys)
        {
            if (ignore.Contains(key)) continue;
            var b = before?[key];
            var a = after?[key];
            if (JsonNode.DeepEquals(b, a)) continue;
            changes[key] = Secret.Contains(key)
                ? new JsonObject { ["before"] = b is null ? null : "[redacted]", ["after"] = a is null ? null : "[redacted]" }
                : new JsonObject { ["before"] = Redacted(b), ["after"] = Redacted(a) };
        }
        return changes;
    }

    /// <summary>A copy with secret-named fields at any depth (e.g. settings.password) replaced.</summary>
    private static JsonNode? Redacted(JsonNode? node) => node switch
    {
        JsonObject o => new JsonObject(o.Select(p => KeyValuePair.Create(p.Key, Secret.Contains(p.Key) && p.Value is not null ? (JsonNode?)"[redacted]" : Redacted(p.Value)))),
        JsonArray a => new JsonArray(a.Select(Redacted).ToArray()),
        _ => node?.DeepClone(),
    };
}
