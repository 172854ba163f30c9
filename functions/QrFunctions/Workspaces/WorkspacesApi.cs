using Microsoft.Azure.Functions.Worker;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Azure;
using Azure.Data.Tables;
using QrFunctions.Api;
using QrFunctions.AuditLogs;
using QrFunctions.Auth;
using QrFunctions.Organizations;
using QrFunctions.Storage;
using QrFunctions.Teams;

namespace QrFunctions.Workspaces;

/// <summary>/v1/workspaces (surface B): the organization's teams seen as workspaces; one entity, two views.</summary>
[ApiAccess(ApiSurface.V1), Tags("Workspaces")]
public sealed partial class WorkspacesApi(StorageAccount storage, TenantDirectory directory, PlanCatalog plans)
{
    private const string Route = "v1/workspaces";

    public static object View(Team t) => new
    {
        id = t.Id, name = t.Name, slug = t.Slug, default_locale = t.DefaultLocale, approval_required = t.ApprovalRequired,
        primary_color = t.PrimaryColor, custom_domain = t.CustomDomain, archived = t.Archived,
        created_at = OrganizationsApi.Iso(t.CreatedAt), updated_at = OrganizationsApi.Iso(t.UpdatedAt),
    };

    [GeneratedRegex("^#[0-9A-Fa-f]{6}$")]
    private static partial Regex Color();

    [GeneratedRegex("^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]
    private static partial Regex Locale();

    [Function("WorkspacesList"), EndpointSummary("Workspaces of the organization")]
    public async Task<IResult> ListAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = Route)] HttpRequest req)
    {
        var context = req.HttpContext;
        var caller = context.Caller();
        var teams = new List<Team>();
        await foreach (var link in storage.Orgs.QueryAsync<WorkspaceLink>(TableQueries.PrefixFilter(caller.OrgId, WorkspaceLink.RowPrefix), cancellationToken: context.RequestAborted))
            if (await directory.TeamAsync(link.TeamId) is { } team) teams.Add(team);
        return Envelope.V1List(teams.OrderBy(t => t.CreatedAt).Select(View), null);
    }

    [Function("WorkspacesCreate"), Requires(Role.Owner), EndpointSummary("Create a workspace (plan limit on the count)")]
    public async Task<IResult> CreateAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = Route)] HttpRequest req)
    {
        var context = req.HttpContext;
        var caller = context.Caller();
        var body = await RequestJson.ReadObjectAsync(context);
        var name = body.RequiredString("name", 255).Trim();
        var slug = body.RequiredString("slug", 63);
        if (!TeamCreation.SlugPattern().IsMatch(slug)) throw ApiProblem.BadRequest("slug must be 2-63 characters of a-z, 0-9 and '-'.");
        var draft = new TeamDraft(name, slug,
            Validated(body.OptionalString("default_locale", 35), Locale(), "default_locale must be a language tag such as de or en-GB.") ?? "de",
            body.OptionalBool("approval_required") ?? false,
            Validated(body.OptionalString("primary_color", 7), Color(), "primary_color must be #RRGGBB."),
            body.OptionalString("custom_domain", 253) is { } d ? TeamsApi.NormalizeHost(d, "custom_domain") : null);
        var team = await TeamCreation.CreateAsync(storage, caller.Org!, draft, plans.For(caller.Org!), caller.ActorId,
            caller.Key.Scope == KeyScopes.User ? caller.Key.UserEmail : null, null, context.RequestAborted, actorEmail: caller.Key.UserEmail);
        return Envelope.V1(View(team), 201);
    }

    [Function("WorkspacesUpdate"), TeamFromRoute("id", 404, "Workspace not found."), Requires(Role.Admin), EndpointSummary("Change a workspace's settings")]
    public async Task<IResult> UpdateAsync([HttpTrigger(AuthorizationLevel.Anonymous, "patch", Route = Route + "/{id}")] HttpRequest req)
    {
        var context = req.HttpContext;
        var body = await RequestJson.ReadObjectAsync(context);
        var name = body.OptionalString("name", 255);
        if (name is not null && name.Trim().Length == 0) throw ApiProblem.BadRequest("name must not be empty.");
        var approval = body.OptionalBool("approval_required");
        var color = Validated(body.OptionalString("primary_color", 7), Color(), "primary_color must be #RRGGBB.");
        var locale = Validated(body.OptionalString("default_locale", 35), Locale(), "default_locale must be a language tag such as de or en-GB.");
        var domain = body.OptionalString("custom_domain", 253) is { } d ? TeamsApi.NormalizeHost(d, "custom_domain") : null;
        // An explicit null removes the custom domain or colour; an absent field leaves it as it is.
        var clearDomain = body.TryGetPropertyValue("custom_domain", out var dn) && dn is null;
        var clearColor = body.TryGetPropertyValue("primary_color", out var cn) && cn is null;
        if (body.TryGetPropertyValue("name", out var nn) && nn is null) throw ApiProblem.BadRequest("name must not be empty.");
        var team = await TeamsApi.UpdateAsync(context, storage, directory, t =>
        {
            t.Name = name?.Trim() ?? t.Name;
            t.ApprovalRequired = approval ?? t.ApprovalRequired;
            t.PrimaryColor = clearColor ? null : color ?? t.PrimaryColor;
            t.DefaultLocale = locale ?? t.DefaultLocale;
            t.CustomDomain = clearDomain ? null : domain ?? t.CustomDomain;
        });
        return Envelope.V1(View(team));
    }

    [Function("WorkspacesArchive"), Requires(Role.Owner), EndpointSummary("Archive a workspace (not the key's own)")]
    public async Task<IResult> ArchiveAsync([HttpTrigger(AuthorizationLevel.Anonymous, "delete", Route = Route + "/{id}")] HttpRequest req, string id)
    {
        var context = req.HttpContext;
        var caller = context.Caller();
        if (id == caller.TeamId || id == caller.Key.HomeTeamId) throw ApiProblem.BadRequest("A key cannot archive its own workspace.");
        var target = await directory.TeamAsync(id);
        if (target is null || target.OrgId != caller.OrgId || target.Archived) throw ApiProblem.NotFound("Workspace not found.");
        var current = (await storage.TeamData.GetEntityAsync<Team>(id, Team.Row, cancellationToken: context.RequestAborted)).Value;
        if (current.Archived) throw ApiProblem.NotFound("Workspace not found.");
        current.Archived = true;
        current.UpdatedAt = Clock.NowMs();
        current.UpdatedBy = caller.ActorId;
        await AuditEntry.CommitAsync(storage.TeamData,
        [
            new TableTransactionAction(TableTransactionActionType.UpdateReplace, current, current.ETag),
            new TableTransactionAction(TableTransactionActionType.Add, AuditEntry.For(id, caller,
                "workspaces.archived", "workspaces", id, new JsonObject { ["archived"] = new JsonObject { ["before"] = false, ["after"] = true } })),
        ], context.RequestAborted);
        directory.ForgetTeam(id);
        await ReleasePlanSlotAsync(storage, caller.OrgId, context.RequestAborted);
        return Envelope.V1(View(current));
    }

    /// <summary>
    /// An archived workspace no longer counts against the plan. Runs after the archive commits (another
    /// partition): a crash in between leaves the count one too high, which only ever refuses, never over-admits.
    /// </summary>
    private static async Task ReleasePlanSlotAsync(StorageAccount storage, string orgId, CancellationToken ct)
    {
        for (var attempt = 0; attempt < 10; attempt++)
        {
            var org = (await storage.Orgs.GetEntityAsync<Organization>(orgId, Organization.Row, cancellationToken: ct)).Value;
            if (org.WorkspaceCount <= 0) return;
            org.WorkspaceCount--;
            try
            {
                await storage.Orgs.UpdateEntityAsync(org, org.ETag, TableUpdateMode.Replace, ct);
                return;
            }
            catch (RequestFailedException ex) when (ex.Status == 412)
            {
                // A workspace was created or archived concurrently: re-read the count.
            }
        }
    }

    private static string? Validated(string? value, Regex pattern, string message) =>
        value is null || pattern.IsMatch(value) ? value : throw ApiProblem.BadRequest(message);
}
