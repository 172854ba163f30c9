using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Azure.Data.Tables;
using Microsoft.Azure.Functions.Worker;
using QrFunctions.Api;
using QrFunctions.AuditLogs;
using QrFunctions.Auth;
using QrFunctions.Storage;

namespace QrFunctions.Teams;

/// <summary>/api/teams-api: the caller's teams, creating and renaming teams, domain preferences (surface A).</summary>
[ApiAccess(ApiSurface.QrApi), Tags("Teams")]
public sealed partial class TeamsApi(StorageAccount storage, TenantDirectory directory, PlanCatalog plans)
{
    public const string Route = "api/teams-api";
    /// <summary>Functions about the team in the path: surface A's contract answers 400 "Team not found" for one the key cannot see.</summary>
    public const string TeamNotFound = "Team not found";

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

    [Function("TeamsList"), EndpointSummary("Teams the caller belongs to")]
    public async Task<IResult> ListAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = Route)] HttpRequest req)
    {
        var context = req.HttpContext;
        var caller = context.Caller();
        var teams = new List<Team>();
        if (caller.Key.Scope == KeyScopes.User && caller.Key.UserEmail is { } email)
        {
            await foreach (var link in storage.Users.QueryAsync<UserTeam>(TableQueries.PrefixFilter(email, UserTeam.RowPrefix), cancellationToken: context.RequestAborted))
            {
                if (link.OrgId != caller.OrgId) continue;
                var team = await directory.TeamAsync(link.TeamId);
                var member = await directory.MembershipAsync(link.TeamId, email);
                if (team is { Archived: false } && member is { Status: "active" }) teams.Add(team);
            }
        }
        else
        {
            teams.Add(caller.Team!);
        }
        // With their members, as GET /teams-api/{id} and the public client's Team schema have them.
        var views = await Task.WhenAll(teams.Select(async t => (JsonNode)View(t, await MembersAsync(t.Id, context.RequestAborted))));
        return Envelope.OkNode(new JsonArray(views));
    }

    [Function("TeamsCreate"), Requires(Role.Admin), EndpointSummary("Create a team in the organization")]
    public async Task<IResult> CreateAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = Route)] HttpRequest req)
    {
        var context = req.HttpContext;
        var caller = context.Caller();
        var body = await RequestJson.ReadObjectAsync(context);
        var name = body.RequiredString("name", 255).Trim();
        // The creator joins the new team: an owner as owner, anyone else as admin. A workspace key is nobody,
        // so its workspace's owner joins as owner; otherwise the new team would have no member at all.
        var (email, role) = caller.Key.Scope == KeyScopes.User
            ? (caller.Key.UserEmail, caller.Role == Role.Owner ? Role.Owner : Role.Admin)
            : (await OwnerOfAsync(storage, caller.TeamId, context.RequestAborted), Role.Owner);
        var team = await TeamCreation.CreateAsync(storage, caller.Org!, new TeamDraft(name, null), plans.For(caller.Org!), caller.ActorId,
            email, null, context.RequestAborted, role, caller.Key.UserEmail);
        return Envelope.OkNode(View(team));
    }

    private async Task<List<Membership>> MembersAsync(string teamId, CancellationToken ct)
    {
        var members = new List<Membership>();
        await foreach (var m in storage.TeamData.QueryAsync<Membership>(TableQueries.PrefixFilter(teamId, Membership.RowPrefix), cancellationToken: ct))
            members.Add(m);
        return members;
    }

    private static async Task<string?> OwnerOfAsync(StorageAccount storage, string teamId, CancellationToken ct)
    {
        await foreach (var m in storage.TeamData.QueryAsync<Membership>(TableQueries.PrefixFilter(teamId, Membership.RowPrefix) + " and Role eq 'owner'", maxPerPage: 1, cancellationToken: ct))
            return m.Email;
        return null;
    }

    [Function("TeamsGet"), TeamFromRoute("id", 400, TeamNotFound), EndpointSummary("A team with its members")]
    public async Task<IResult> GetAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = Route + "/{id}")] HttpRequest req)
    {
        var context = req.HttpContext;
        var team = context.Caller().Team!;
        return Envelope.OkNode(View(team, await MembersAsync(team.Id, context.RequestAborted)));
    }

    [Function("TeamsRename"), TeamFromRoute("id", 400, TeamNotFound), Requires(Role.Admin), EndpointSummary("Rename a team")]
    public async Task<IResult> RenameAsync([HttpTrigger(AuthorizationLevel.Anonymous, "put", Route = Route + "/{id}")] HttpRequest req)
    {
        var context = req.HttpContext;
        var body = await RequestJson.ReadObjectAsync(context);
        var name = body.RequiredString("name", 255).Trim();
        var team = await UpdateAsync(context, storage, directory, t => t.Name = name);
        return Envelope.OkNode(View(team));
    }

    [Function("TeamsDomainPreferences"), TeamFromRoute("id", 400, TeamNotFound), Requires(Role.Admin), EndpointSummary("Set the team's domains and default domain")]
    public async Task<IResult> DomainsAsync([HttpTrigger(AuthorizationLevel.Anonymous, "put", Route = Route + "/{id}/domainPreferences")] HttpRequest req)
    {
        var context = req.HttpContext;
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
                new TableTransactionAction(TableTransactionActionType.Add, AuditEntry.For(current.Id, caller, action, "workspaces", current.Id,
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
