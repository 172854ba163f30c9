using System.Text.Json;
using Azure;
using Azure.Data.Tables;

namespace QrFunctions.Teams;

/// <summary>
/// teamdata table, PartitionKey = teamId, RowKey = "team". A team (surface A) is a workspace (surface B).
/// Everything that belongs to one team lives in its partition (QR codes, their list indexes, members,
/// templates, audit entries), so a change and its audit entry commit in one entity-group transaction.
/// </summary>
public sealed class Team : ITableEntity
{
    public const string Row = "team";

    public string PartitionKey { get; set; } = "";
    public string RowKey { get; set; } = Row;
    public DateTimeOffset? Timestamp { get; set; }
    public ETag ETag { get; set; }

    public string Id => PartitionKey;
    public string OrgId { get; set; } = "";
    public string Name { get; set; } = "";
    public string Slug { get; set; } = "";
    public string? DefaultDomain { get; set; }
    /// <summary>JSON array of host names the team's codes may be served on.</summary>
    public string DomainsJson { get; set; } = "[]";
    public string DefaultLocale { get; set; } = "de";
    public bool ApprovalRequired { get; set; }
    public string? PrimaryColor { get; set; }
    public string? CustomDomain { get; set; }
    public bool Archived { get; set; }
    public long CreatedAt { get; set; }
    public string CreatedBy { get; set; } = "";
    public long UpdatedAt { get; set; }
    public string UpdatedBy { get; set; } = "";

    public IReadOnlyList<string> Domains() => JsonSerializer.Deserialize<List<string>>(DomainsJson) ?? [];
}

/// <summary>teamdata table, PartitionKey = teamId, RowKey = "member|{email}": a user's role and status in one team.</summary>
public sealed class Membership : ITableEntity
{
    public const string RowPrefix = "member|";
    public static string RowOf(string email) => RowPrefix + email.ToLowerInvariant();

    public string PartitionKey { get; set; } = "";
    public string RowKey { get; set; } = "";
    public DateTimeOffset? Timestamp { get; set; }
    public ETag ETag { get; set; }

    public string TeamId => PartitionKey;
    public string Email => RowKey[RowPrefix.Length..];
    public string Name { get; set; } = "";
    public string Role { get; set; } = "viewer";
    /// <summary>invited | active | paused</summary>
    public string Status { get; set; } = "invited";
    /// <summary>Invitations sent in the current 24-hour window (resend limit).</summary>
    public int InvitesSent { get; set; }
    public long InviteWindowStart { get; set; }
    public long CreatedAt { get; set; }
    public long UpdatedAt { get; set; }
}

/// <summary>users table, PartitionKey = email, RowKey = "team|{teamId}": which teams a user belongs to (GET /teams-api).</summary>
public sealed class UserTeam : ITableEntity
{
    public const string RowPrefix = "team|";

    public string PartitionKey { get; set; } = "";
    public string RowKey { get; set; } = "";
    public DateTimeOffset? Timestamp { get; set; }
    public ETag ETag { get; set; }

    public string TeamId => RowKey[RowPrefix.Length..];
    public string OrgId { get; set; } = "";
}
