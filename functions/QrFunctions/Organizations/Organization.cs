using Azure;
using Azure.Data.Tables;

namespace QrFunctions.Organizations;

/// <summary>
/// orgs table, PartitionKey = orgId, RowKey = "org". The organization's own partition also holds one
/// row per workspace ("ws|{teamId}") and per workspace slug ("wsslug|{slug}"), so creating a workspace
/// checks the plan limit and the slug's uniqueness in one atomic batch with the org row's ETag.
/// </summary>
public sealed class Organization : ITableEntity
{
    public const string Row = "org";

    public string PartitionKey { get; set; } = "";
    public string RowKey { get; set; } = Row;
    public DateTimeOffset? Timestamp { get; set; }
    public ETag ETag { get; set; }

    public string Id => PartitionKey;
    public string Name { get; set; } = "";
    public string Slug { get; set; } = "";
    public string? BillingEmail { get; set; }
    public string Plan { get; set; } = "Free";
    /// <summary>JSON of per-organization plan overrides (Enterprise custom limits), or null.</summary>
    public string? PlanOverrides { get; set; }
    public bool Deleted { get; set; }
    public long? DeletedAt { get; set; }
    public int WorkspaceCount { get; set; }
    public long CreatedAt { get; set; }
    public long UpdatedAt { get; set; }
}
