using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Azure.Data.Tables;
using QrFunctions.Api;
using QrFunctions.AuditLogs;
using QrFunctions.Auth;
using QrFunctions.Storage;

namespace QrFunctions.Teams;

/// <summary>/api/teams-api: the caller's teams, creating and renaming teams, domain preferences (surface A).</summary>
public static partial class TeamsApi
{
    public static readonly TeamFromRoute RouteTeam = new("id", 400, "Team not found");

    public static void MapTeams(this RouteGroupBuilder api)
    {
        var teams = api.MapGroup("/teams-api").WithTags("Teams");
        teams.MapGet("", ListAsync).WithName("TeamsList").WithSummary("Teams the caller belongs to");
        teams.MapPost("", CreateAsync).WithName("TeamsCreate").Requires(Role.Admin).WithSummary("Create a team in the organization");
        var one = teams.MapGroup("/{id}").WithMetadata(RouteTeam);
        one.MapGet("", GetAsync).WithName("TeamsGet").WithSummary("A team with its members");
        one.MapPut("", RenameAsync).WithName("TeamsRename").Requires(Role.Admin).WithSummary("Rename a team");
        one.MapPut("/domainPreferences", DomainsAsync).WithName("TeamsDomainPreferences").Requires(Role.Admin).WithSummary("Set the team's domains and default domain");
    }

    public static JsonObject View(Team team, IEnumerable<Membership>? members = null)
    {
        var view = new JsonObject
        {
            ["id"] = team.Id, ["name"] = team.Name, ["orgId"] = team.OrgId, ["defaultDomain"] = team.DefaultDomain,
            ["domains"] = JsonNode.Parse(team.DomainsJson), ["createdAt"] = team.CreatedAt, ["createdBy"] = team.CreatedBy,
            ["updatedAt"] = team.UpdatedAt, ["updatedBy"] = team.UpdatedBy,
        };
        if (members is not null)
            view["members"] = new JsonArray(members.Select(m => (JsonNode)new JsonObject
            {
                ["name"] = m.Name, ["email"] = m.Email, ["role"] = m.Role, ["status"] = m.Status, ["createdAt"] = m.CreatedAt, ["updatedAt"] = m.UpdatedAt,
            }).ToArray());
        return view;
    }

    private static async Task<IResult> ListAsync(HttpContext context, StorageAccount storage, TenantDirectory directory)
    {
        var caller = context.Caller();
        var teams = new List<JsonObject>();
        if (caller.Key.Scope == KeyScopes.User && caller.Key.UserEmail is { } email)
        {
            await foreach (var link in storage.Users.QueryAsync<UserTeam>(TableQueries.PrefixFilter(email, UserTeam.RowPrefix), cancellationToken: context.RequestAborted))
            {
                if (link.OrgId != caller.OrgId) continue;
                var team = await directory.TeamAsync(link.TeamId);
                var member = await directory.MembershipAsync(link.TeamId, email);
                if (team is { Archived: false } && member is { Status: "active" }) teams.Add(View(team));
            }
        }
        else
        {
            teams.Add(View(caller.Team!));
        }
        return Envelope.OkNode(new JsonArray(teams.ToArray<JsonNode>()));
    }

    private static async Task<IResult> CreateAsync(HttpContext context, StorageAccount storage, PlanCatalog plans)
    {
        var caller = context.Caller();
        var body = await RequestJson.ReadObjectAsync(context);
        var name = body.RequiredString("name", 255).Trim();
        // The creator joins the new team: an owner as owner, anyone else as admin. A workspace key is nobody,
        // so its workspace's owner joins as owner; otherwise the new team would have no member at all.
        var (email, role) = caller.Key.Scope == KeyScopes.User
            ? (caller.Key.UserEmail, caller.Role == Role.Owner ? Role.Owner : Role.Admin)
            : (await OwnerOfAsync(storage, caller.TeamId, context.RequestAborted), Role.Owner);
        var team = await TeamCreation.CreateAsync(storage, caller.Org!, new TeamDraft(name, null), plans.For(caller.Org!), caller.ActorId,
            email, null, context.RequestAborted, role);
        return Envelope.OkNode(View(team));
    }

    private static async Task<string?> OwnerOfAsync(StorageAccount storage, string teamId, CancellationToken ct)
    {
        await foreach (var m in storage.TeamData.QueryAsync<Membership>(TableQueries.PrefixFilter(teamId, Membership.RowPrefix) + " and Role eq 'owner'", maxPerPage: 1, cancellationToken: ct))
            return m.Email;
        return null;
    }

    private static async Task<IResult> GetAsync(HttpContext context, StorageAccount storage)
    {
        var team = context.Caller().Team!;
        var members = new List<Membership>();
        await foreach (var m in storage.TeamData.QueryAsync<Membership>(TableQueries.PrefixFilter(team.Id, Membership.RowPrefix), cancellationToken: context.RequestAborted))
            members.Add(m);
        return Envelope.OkNode(View(team, members));
    }

    private static async Task<IResult> RenameAsync(HttpContext context, StorageAccount storage, TenantDirectory directory)
    {
        var body = await RequestJson.ReadObjectAsync(context);
        var name = body.RequiredString("name", 255).Trim();
        var team = await UpdateAsync(context, storage, directory, t => t.Name = name);
        return Envelope.OkNode(View(team));
    }

    private static async Task<IResult> DomainsAsync(HttpContext context, StorageAccount storage, TenantDirectory directory)
    {
        var body = await RequestJson.ReadObjectAsync(context);
        var domains = (body.OptionalStringArray("domains", 20, 253) ?? throw ApiProblem.BadRequest("domains is required (an array of host names)."))
            .Select(d => NormalizeHost(d, "domains")).Distinct().ToList();
        var defaultDomain = NormalizeHost(body.RequiredString("defaultDomain", 253), "defaultDomain");
        if (!domains.Contains(defaultDomain)) throw ApiProblem.BadRequest("defaultDomain must be one of domains.");
        var team = await UpdateAsync(context, storage, directory, t =>
        {
            t.DomainsJson = JsonSerializer.Serialize(domains);
            t.DefaultDomain = defaultDomain;
        });
        return Envelope.OkNode(View(team));
    }

    [GeneratedRegex(@"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$")]
    private static partial Regex HostName();

    /// <summary>A bare host name (IDN allowed, stored as punycode): no scheme, port, path or wildcard.</summary>
    public static string NormalizeHost(string value, string field)
    {
        try
        {
            var ascii = new IdnMapping().GetAscii(value.Trim().TrimEnd('.')).ToLowerInvariant();
            if (HostName().IsMatch(ascii)) return ascii;
        }
        catch (ArgumentException) { }
        throw ApiProblem.BadRequest($"{field} must contain host names like qr.example.com (no scheme, port or path).");
    }

    /// <summary>Changes the caller's route team and records workspaces.updated in the same transaction (ETag-checked).</summary>
    public static async Task<Team> UpdateAsync(HttpContext context, StorageAccount storage, TenantDirectory directory, Action<Team> change, string action = "workspaces.updated")
    {
        var caller = context.Caller();
        var current = (await storage.TeamData.GetEntityAsync<Team>(caller.TeamId, Team.Row, cancellationToken: context.RequestAborted)).Value;
        var before = JsonSerializer.SerializeToNode(current, JsonSerializerOptions.Web) as JsonObject;
        change(current);
        current.UpdatedAt = Clock.NowMs();
        current.UpdatedBy = caller.ActorId;
        var after = JsonSerializer.SerializeToNode(current, JsonSerializerOptions.Web) as JsonObject;
        try
        {
            await storage.TeamData.SubmitTransactionAsync(
            [
                new TableTransactionAction(TableTransactionActionType.UpdateReplace, current, current.ETag),
                new TableTransactionAction(TableTransactionActionType.Add, AuditEntry.For(current.Id, caller.ActorType, caller.ActorId, action, "workspaces", current.Id,
                    AuditEntry.Diff(before, after, "updatedAt", "updatedBy", "eTag", "timestamp"))),
            ], context.RequestAborted);
        }
        catch (TableTransactionFailedException ex) when (ex.Status == 412)
        {
            throw ApiProblem.Conflict("The team changed while it was being updated; try again.");
        }
        directory.ForgetTeam(current.Id);
        return current;
    }
}
