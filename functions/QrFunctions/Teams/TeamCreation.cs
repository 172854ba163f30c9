using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Azure;
using Azure.Data.Tables;
using QrFunctions.Api;
using QrFunctions.AuditLogs;
using QrFunctions.Auth;
using QrFunctions.Organizations;
using QrFunctions.Storage;
using QrFunctions.Templates;

namespace QrFunctions.Teams;

/// <summary>What a new team/workspace starts with; both surfaces create teams through <see cref="TeamCreation"/>.</summary>
public sealed record TeamDraft(string Name, string? Slug, string DefaultLocale = "de", bool ApprovalRequired = false, string? PrimaryColor = null, string? CustomDomain = null);

/// <summary>org partition row "ws|{teamId}": lists an organization's workspaces without scanning teamdata.</summary>
public sealed class WorkspaceLink : ITableEntity
{
    public const string RowPrefix = "ws|";
    public string PartitionKey { get; set; } = "";
    public string RowKey { get; set; } = "";
    public DateTimeOffset? Timestamp { get; set; }
    public ETag ETag { get; set; }
    public string TeamId => RowKey[RowPrefix.Length..];
    public string Slug { get; set; } = "";
}

public static partial class TeamCreation
{
    public const string SlugRowPrefix = "wsslug|";

    [GeneratedRegex("^[a-z0-9-]{2,63}$")]
    public static partial Regex SlugPattern();

    /// <summary>
    /// Creates a team: first the organization partition (count against the plan limit and the slug's
    /// uniqueness, atomically under the org row's ETag), then the team's own partition (team row, default
    /// template, owner membership, audit entry) in one transaction.
    /// </summary>
    public static async Task<Team> CreateAsync(StorageAccount storage, Organization org, TeamDraft draft, PlanLimits limits,
        string actorId, string? ownerEmail = null, string? ownerName = null, CancellationToken ct = default, Role creatorRole = Role.Owner, string? actorEmail = null)
    {
        var slug = draft.Slug ?? SlugFrom(draft.Name);
        var teamId = Ids.New("ws");
        var now = Clock.NowMs();
        for (var attempt = 0; ; attempt++)
        {
            var current = (await storage.Orgs.GetEntityAsync<Organization>(org.Id, Organization.Row, cancellationToken: ct)).Value;
            if (current.Deleted) throw ApiProblem.NotFound("Organization not found.");
            if (limits.MaxWorkspaces is { } max && current.WorkspaceCount >= max)
                throw ApiProblem.Forbidden($"The {current.Plan} plan allows at most {max} workspace{(max == 1 ? "" : "s")}; this organization has reached that limit.");
            current.WorkspaceCount++;
            current.UpdatedAt = now;
            try
            {
                await storage.Orgs.SubmitTransactionAsync(
                [
                    new TableTransactionAction(TableTransactionActionType.UpdateReplace, current, current.ETag),
                    new TableTransactionAction(TableTransactionActionType.Add, new WorkspaceLink { PartitionKey = org.Id, RowKey = WorkspaceLink.RowPrefix + teamId, Slug = slug }),
                    new TableTransactionAction(TableTransactionActionType.Add, new TableEntity(org.Id, SlugRowPrefix + slug) { ["TeamId"] = teamId }),
                ], ct);
                break;
            }
            catch (TableTransactionFailedException ex) when (ex.FailedTransactionActionIndex == 2 && ex.Status == 409)
            {
                throw ApiProblem.BadRequest($"slug '{slug}' is already used by another workspace of this organization.");
            }
            catch (TableTransactionFailedException ex) when (ex.Status == 412 && attempt < 10)
            {
                // Another workspace was created concurrently: re-read the count and try again.
            }
        }

        var team = new Team
        {
            PartitionKey = teamId,
            OrgId = org.Id,
            Name = draft.Name,
            Slug = slug,
            DefaultLocale = draft.DefaultLocale,
            ApprovalRequired = draft.ApprovalRequired,
            PrimaryColor = draft.PrimaryColor,
            CustomDomain = draft.CustomDomain,
            CreatedAt = now,
            CreatedBy = actorId,
            UpdatedAt = now,
            UpdatedBy = actorId,
        };
        var created = AuditEntry.For(teamId, "api", actorId, "workspaces.created", "workspaces", teamId,
            new JsonObject { ["name"] = new JsonObject { ["before"] = null, ["after"] = draft.Name }, ["slug"] = new JsonObject { ["before"] = null, ["after"] = slug } });
        created.ActorEmail = actorEmail;
        var batch = new List<TableTransactionAction>
        {
            new(TableTransactionActionType.Add, team),
            new(TableTransactionActionType.Add, DesignTemplate.DefaultFor(teamId, now)),
            new(TableTransactionActionType.Add, created),
        };
        if (ownerEmail is not null)
            batch.Add(new(TableTransactionActionType.Add, new Membership
            {
                PartitionKey = teamId, RowKey = Membership.RowOf(ownerEmail), Name = ownerName ?? ownerEmail,
                Role = Roles.Name(creatorRole), Status = "active", CreatedAt = now, UpdatedAt = now,
            }));
        await storage.TeamData.SubmitTransactionAsync(batch, ct);
        if (ownerEmail is not null)
            await storage.Users.UpsertEntityAsync(new UserTeam { PartitionKey = ownerEmail.ToLowerInvariant(), RowKey = UserTeam.RowPrefix + teamId, OrgId = org.Id }, cancellationToken: ct);
        return team;
    }

    /// <summary>A readable slug from a name plus a random tail, for teams created without one (surface A).</summary>
    public static string SlugFrom(string name)
    {
        var basePart = Regex.Replace(name.ToLowerInvariant(), "[^a-z0-9]+", "-").Trim('-');
        if (basePart.Length > 50) basePart = basePart[..50].TrimEnd('-');
        return (basePart.Length == 0 ? "team" : basePart) + "-" + Ids.Random(6);
    }
}
