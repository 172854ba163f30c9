using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Azure;
using Azure.Data.Tables;
using Microsoft.Azure.Functions.Worker;
using QrFunctions.Api;
using QrFunctions.AuditLogs;
using QrFunctions.Auth;
using QrFunctions.Email;
using QrFunctions.Organizations;
using QrFunctions.Storage;
using QrFunctions.Teams;
using QrFunctions.Webhooks;

namespace QrFunctions.Members;

/// <summary>
/// teamdata partition (PartitionKey = teamId) rows "invite|{sha256 of token}": a pending invitation,
/// single-use and expiring, written in the same transaction as the membership it activates.
/// </summary>
public static class Invites
{
    public const string RowPrefix = "invite|";
    public static readonly TimeSpan Lifetime = TimeSpan.FromDays(7);
    public const int ResendLimit = 5;
    public static readonly TimeSpan ResendWindow = TimeSpan.FromHours(24);

    /// <summary>A token names its team so accepting needs no search: "{teamId}.{random}".</summary>
    public static (string Token, TableEntity Row) New(string teamId, string email)
    {
        var token = $"{teamId}.{Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_')}";
        return (token, new TableEntity(teamId, RowPrefix + Hash(token))
        {
            ["Email"] = email, ["ExpiresAt"] = Clock.NowMs() + (long)Lifetime.TotalMilliseconds, ["Used"] = false,
        });
    }

    public static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
}

/// <summary>/api/teams-api member functions (surface A). Roles are checked in the team named by the path.</summary>
[ApiAccess(ApiSurface.QrApi), Tags("Team members")]
public sealed class MembersApi(StorageAccount storage, TenantDirectory directory, IConfiguration config, WebhookPublisher webhooks, AccessPolicy access)
{
    private const string Members = TeamsApi.Route + "/{id}/members";

    private static string Email(string value, string field = "email") =>
        OrganizationSetup.IsEmail(value) ? value.Trim().ToLowerInvariant() : throw ApiProblem.BadRequest($"{field} must be an email address.");

    [Function("MembersAddOrUpdate"), TeamFromRoute("id", 400, TeamsApi.TeamNotFound), Requires(Role.Admin)]
    [EndpointSummary("Add a member (invites new users) or update their name and role")]
    public async Task<IResult> AddOrUpdateAsync([HttpTrigger(AuthorizationLevel.Anonymous, "put", Route = Members)] HttpRequest req)
    {
        var context = req.HttpContext;
        var body = await RequestJson.ReadObjectAsync(context);
        var name = body.RequiredString("name", 255).Trim();
        var email = Email(body.RequiredString("email", 254));
        var role = Roles.ParseAssignable(body.OptionalString("role", 16));
        await AddToTeamAsync(context.Caller(), context.Caller().Team!, name, email, role, storage, directory, config, webhooks, context.RequestAborted);
        return Envelope.Success();
    }

    private static async Task AddToTeamAsync(Caller caller, Team team, string name, string email, Role role, StorageAccount storage, TenantDirectory directory, IConfiguration config,
        WebhookPublisher webhooks, CancellationToken ct)
    {
        // A person belongs to one organization; the public client expects 400 "user from different org".
        if (await BelongsToAnotherOrganizationAsync(storage, directory, email, team.OrgId, ct)) throw ApiProblem.BadRequest("user from different org");
        var existing = await storage.TeamData.GetEntityIfExistsAsync<Membership>(team.Id, Membership.RowOf(email), cancellationToken: ct);
        var now = Clock.NowMs();
        if (existing.HasValue)
        {
            var member = existing.Value!;
            if (member.Role == "owner") throw ApiProblem.BadRequest("The owner's role cannot be changed.");
            var changes = AuditEntry.Diff(new JsonObject { ["name"] = member.Name, ["role"] = member.Role }, new JsonObject { ["name"] = name, ["role"] = Roles.Name(role) });
            member.Name = name;
            member.Role = Roles.Name(role);
            member.UpdatedAt = now;
            await AuditEntry.CommitAsync(storage.TeamData,
            [
                new TableTransactionAction(TableTransactionActionType.UpdateReplace, member, member.ETag),
                new TableTransactionAction(TableTransactionActionType.Add, AuditEntry.For(team.Id, caller, "members.updated", "members", email, changes)),
            ], ct);
            // Re-adding also repairs the derived users row if a crash once left it unwritten.
            await storage.Users.UpsertEntityAsync(new UserTeam { PartitionKey = email, RowKey = UserTeam.RowPrefix + team.Id, OrgId = team.OrgId }, cancellationToken: ct);
            directory.ForgetMembership(team.Id, email);
            await webhooks.PublishAsync(team.Id, "members.updated", new JsonObject { ["email"] = email, ["name"] = name, ["role"] = member.Role }, ct);
            return;
        }
        // Someone already active in another team of the organization has proven their address: they join at
        // once and are told so; anyone else is invited and joins by accepting.
        var known = (await OtherMembershipsAsync(storage, team.OrgId, email, team.Id, ct)).Any(m => m.Status == "active");
        var status = known ? "active" : "invited";
        var added = new Membership
        {
            PartitionKey = team.Id, RowKey = Membership.RowOf(email), Name = name, Role = Roles.Name(role), Status = status, CreatedAt = now, UpdatedAt = now,
        };
        var batch = new List<TableTransactionAction>
        {
            new(TableTransactionActionType.Add, added),
            new(TableTransactionActionType.Add, AuditEntry.For(team.Id, caller, "members.added", "members", email,
                new JsonObject { ["role"] = new JsonObject { ["before"] = null, ["after"] = Roles.Name(role) }, ["status"] = new JsonObject { ["before"] = null, ["after"] = status } })),
        };
        string? token = null;
        if (!known)
        {
            (token, var invite) = Invites.New(team.Id, email);
            batch.Add(new(TableTransactionActionType.Add, invite));
            added.InvitesSent = 1;
            added.InviteWindowStart = now;
        }
        await AuditEntry.CommitAsync(storage.TeamData, batch, ct);
        await storage.Users.UpsertEntityAsync(new UserTeam { PartitionKey = email, RowKey = UserTeam.RowPrefix + team.Id, OrgId = team.OrgId }, cancellationToken: ct);
        if (token is not null) await SendInviteAsync(storage, config, team, email, token, ct);
        else await EmailOutbox.EnqueueAsync(storage, team.OrgId, email, $"You were added to {team.Name} on QrFunctions",
            $"You were added to the team \"{team.Name}\" as {Roles.Name(role)}. Your existing keys work in it now.\n", ct);
        directory.ForgetMembership(team.Id, email);
        await webhooks.PublishAsync(team.Id, "members.added", new JsonObject { ["email"] = email, ["name"] = name, ["role"] = Roles.Name(role), ["status"] = status }, ct);
    }

    private static Task SendInviteAsync(StorageAccount storage, IConfiguration config, Team team, string email, string token, CancellationToken ct)
    {
        var link = $"{config["QrFunctions:PublicBaseUrl"] ?? "http://127.0.0.1:7071/"}invite/{token}";
        return EmailOutbox.EnqueueAsync(storage, team.OrgId, email, $"You are invited to {team.Name} on QrFunctions",
            $"You have been invited to the team \"{team.Name}\".\nAccept the invitation (valid for {Invites.Lifetime.TotalDays:0} days, once): {link}\n", ct);
    }

    private static async Task<Membership> MemberAsync(StorageAccount storage, string teamId, string email, CancellationToken ct)
    {
        var member = await storage.TeamData.GetEntityIfExistsAsync<Membership>(teamId, Membership.RowOf(email), cancellationToken: ct);
        return member.HasValue ? member.Value! : throw ApiProblem.BadRequest("Member not found in this team.");
    }

    /// <summary>The member's teams in this organization other than <paramref name="exceptTeamId"/>, with their status there.</summary>
    /// <summary>
    /// Whether the person has joined (active or paused, not merely invited) a team of another organization that still
    /// exists. Invitations from two organizations may coexist; the first one accepted decides.
    /// </summary>
    internal static async Task<bool> BelongsToAnotherOrganizationAsync(StorageAccount storage, TenantDirectory directory, string email, string orgId, CancellationToken ct)
    {
        await foreach (var link in storage.Users.QueryAsync<UserTeam>(TableQueries.PrefixFilter(email, UserTeam.RowPrefix), cancellationToken: ct))
            if (link.OrgId != orgId && await directory.OrgAsync(link.OrgId) is { Deleted: false }
                && await directory.MembershipAsync(link.TeamId, email) is { Status: not "invited" }) return true;
        return false;
    }

    private static async Task<List<Membership>> OtherMembershipsAsync(StorageAccount storage, string orgId, string email, string exceptTeamId, CancellationToken ct)
    {
        var others = new List<Membership>();
        await foreach (var link in storage.Users.QueryAsync<UserTeam>(TableQueries.PrefixFilter(email, UserTeam.RowPrefix), cancellationToken: ct))
        {
            if (link.OrgId != orgId || link.TeamId == exceptTeamId) continue;
            var m = await storage.TeamData.GetEntityIfExistsAsync<Membership>(link.TeamId, Membership.RowOf(email), cancellationToken: ct);
            if (m.HasValue) others.Add(m.Value!);
        }
        return others;
    }

    [Function("MembersActivate"), TeamFromRoute("id", 400, TeamsApi.TeamNotFound), Requires(Role.Admin), EndpointSummary("Reactivate a paused member")]
    public Task<IResult> ActivateAsync([HttpTrigger(AuthorizationLevel.Anonymous, "put", Route = Members + "/{email}/activate")] HttpRequest req, string email) =>
        SetStatusAsync(req.HttpContext, email, "active");

    [Function("MembersPause"), TeamFromRoute("id", 400, TeamsApi.TeamNotFound), Requires(Role.Admin), EndpointSummary("Pause a member's access to the team")]
    public Task<IResult> PauseAsync([HttpTrigger(AuthorizationLevel.Anonymous, "put", Route = Members + "/{email}/pause")] HttpRequest req, string email) =>
        SetStatusAsync(req.HttpContext, email, "paused");

    private async Task<IResult> SetStatusAsync(HttpContext context, string email, string status)
    {
        var caller = context.Caller();
        email = Email(email);
        var member = await MemberAsync(storage, caller.TeamId, email, context.RequestAborted);
        if (member.Role == "owner") throw ApiProblem.BadRequest("The owner cannot be paused or activated.");
        if (status == "active" && member.Status == "invited") throw ApiProblem.BadRequest("An invited member becomes active by accepting the invitation.");
        if (status == "paused" && member.Status == "invited") throw ApiProblem.BadRequest("An invited member has no access to pause; remove the member instead.");
        if (member.Status == status) return Envelope.Success(); // already so: nothing changes, nothing to audit
        if (status == "paused" && !(await OtherMembershipsAsync(storage, caller.OrgId, email, caller.TeamId, context.RequestAborted)).Any(m => m.Status == "active"))
            throw ApiProblem.BadRequest("Pausing would leave this member without an active team.");
        var before = member.Status;
        member.Status = status;
        member.UpdatedAt = Clock.NowMs();
        await AuditEntry.CommitAsync(storage.TeamData,
        [
            new TableTransactionAction(TableTransactionActionType.UpdateReplace, member, member.ETag),
            new TableTransactionAction(TableTransactionActionType.Add, AuditEntry.For(caller.TeamId, caller,
                status == "paused" ? "members.paused" : "members.activated", "members", email,
                new JsonObject { ["status"] = new JsonObject { ["before"] = before, ["after"] = status } })),
        ], context.RequestAborted);
        directory.ForgetMembership(caller.TeamId, email);
        return Envelope.Success();
    }

    [Function("MembersChangeRole"), TeamFromRoute("id", 400, TeamsApi.TeamNotFound), Requires(Role.Admin), EndpointSummary("Change a member's role")]
    public async Task<IResult> ChangeRoleAsync([HttpTrigger(AuthorizationLevel.Anonymous, "put", Route = Members + "/{email}/changeRole")] HttpRequest req, string email)
    {
        var context = req.HttpContext;
        var caller = context.Caller();
        email = Email(email);
        var body = await RequestJson.ReadObjectAsync(context);
        var role = Roles.ParseAssignable(body.OptionalString("role", 16));
        var member = await MemberAsync(storage, caller.TeamId, email, context.RequestAborted);
        if (member.Role == "owner") throw ApiProblem.BadRequest("The owner's role cannot be changed.");
        if (member.Role == Roles.Name(role)) return Envelope.Success(); // already so: nothing to audit
        var before = member.Role;
        member.Role = Roles.Name(role);
        member.UpdatedAt = Clock.NowMs();
        await AuditEntry.CommitAsync(storage.TeamData,
        [
            new TableTransactionAction(TableTransactionActionType.UpdateReplace, member, member.ETag),
            new TableTransactionAction(TableTransactionActionType.Add, AuditEntry.For(caller.TeamId, caller, "members.role_changed", "members", email,
                new JsonObject { ["role"] = new JsonObject { ["before"] = before, ["after"] = member.Role } })),
        ], context.RequestAborted);
        directory.ForgetMembership(caller.TeamId, email);
        return Envelope.Success();
    }

    [Function("MembersRemove"), TeamFromRoute("id", 400, TeamsApi.TeamNotFound), Requires(Role.Admin), EndpointSummary("Remove a member from the team")]
    public async Task<IResult> RemoveAsync([HttpTrigger(AuthorizationLevel.Anonymous, "delete", Route = Members + "/{email}")] HttpRequest req, string email)
    {
        var context = req.HttpContext;
        var caller = context.Caller();
        email = Email(email);
        var member = await MemberAsync(storage, caller.TeamId, email, context.RequestAborted);
        if (member.Role == "owner") throw ApiProblem.BadRequest("The owner cannot be removed from a team.");
        if ((await OtherMembershipsAsync(storage, caller.OrgId, email, caller.TeamId, context.RequestAborted)).Count == 0)
            throw ApiProblem.BadRequest("This is the member's last team; delete the member instead.");
        await RemoveFromTeamAsync(storage, caller, caller.TeamId, member, "members.removed", context.RequestAborted);
        directory.ForgetMembership(caller.TeamId, email);
        await webhooks.PublishAsync(caller.TeamId, "members.removed", new JsonObject { ["email"] = email }, context.RequestAborted);
        return Envelope.Success();
    }

    /// <summary>Membership row and audit entry in one transaction; the users row (a derived index) after it.</summary>
    private static async Task RemoveFromTeamAsync(StorageAccount storage, Caller caller, string teamId, Membership member, string action, CancellationToken ct)
    {
        await storage.TeamData.SubmitTransactionAsync(
        [
            new TableTransactionAction(TableTransactionActionType.Delete, member, ETag.All),
            new TableTransactionAction(TableTransactionActionType.Add, AuditEntry.For(teamId, caller, action, "members", member.Email,
                new JsonObject { ["role"] = new JsonObject { ["before"] = member.Role, ["after"] = null } })),
        ], ct);
        try { await storage.Users.DeleteEntityAsync(member.Email, UserTeam.RowPrefix + teamId, ETag.All, ct); }
        catch (RequestFailedException ex) when (ex.Status == 404) { }
    }

    [Function("MembersDelete"), TeamFromRoute("id", 400, TeamsApi.TeamNotFound), Requires(Role.Owner), EndpointSummary("Delete a member from the organization")]
    public async Task<IResult> DeleteCompletelyAsync([HttpTrigger(AuthorizationLevel.Anonymous, "delete", Route = Members + "/{email}/delete")] HttpRequest req, string email)
    {
        var context = req.HttpContext;
        var caller = context.Caller();
        email = Email(email);
        var here = await MemberAsync(storage, caller.TeamId, email, context.RequestAborted);
        var all = (await OtherMembershipsAsync(storage, caller.OrgId, email, caller.TeamId, context.RequestAborted)).Append(here).ToList();
        if (all.Any(m => m.Role == "owner")) throw ApiProblem.BadRequest("An owner cannot be deleted.");
        // Keys first: once the memberships are gone a key could not act anyway, but a revoked key is explicit.
        await ApiKeys.PersonalKeys.RevokeAllAsync(storage, directory, caller.OrgId, email, context.RequestAborted);
        foreach (var m in all)
        {
            await RemoveFromTeamAsync(storage, caller, m.TeamId, m, "members.deleted", context.RequestAborted);
            directory.ForgetMembership(m.TeamId, email);
            await webhooks.PublishAsync(m.TeamId, "members.removed", new JsonObject { ["email"] = email, ["deleted"] = true }, context.RequestAborted);
        }
        return Envelope.Success("Member deleted successfully");
    }

    [Function("MembersBulkAdd"), Requires(Role.Admin), EndpointSummary("Add a member to several teams")]
    public async Task<IResult> BulkAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = TeamsApi.Route + "/members/bulk")] HttpRequest req)
    {
        var context = req.HttpContext;
        var caller = context.Caller();
        var body = await RequestJson.ReadObjectAsync(context);
        var name = body.RequiredString("name", 255).Trim();
        var email = Email(body.RequiredString("email", 254));
        if (body["teams"] is not JsonArray { Count: > 0 and <= 50 } list) throw ApiProblem.BadRequest("teams must be a non-empty array (at most 50) of {teamId, role}.");
        var targets = new List<(Team Team, Role Role)>();
        foreach (var item in list)
        {
            if (item is not JsonObject o) throw ApiProblem.BadRequest("teams must be an array of {teamId, role}.");
            var teamId = o.RequiredId("teamId", 64);
            var role = Roles.ParseAssignable(o.OptionalString("role", 16), "teams[].role");
            // Every target team is checked up front with the same rule the filter applies: nothing is written unless all pass.
            var (team, callerRole) = await access.RoleInTeamAsync(caller.Key, caller.Org!, teamId, BulkTeam);
            if (callerRole < Role.Admin) throw ApiProblem.Forbidden($"Adding members to team {teamId} needs the admin role.");
            targets.Add((team, role));
        }
        foreach (var (team, role) in targets) await AddToTeamAsync(caller, team, name, email, role, storage, directory, config, webhooks, context.RequestAborted);
        return Envelope.Success();
    }

    [Function("MembersResendInvite"), Requires(Role.Admin), EndpointSummary("Send a pending member's invitation again")]
    public async Task<IResult> ResendAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = TeamsApi.Route + "/resend/invite/{email}")] HttpRequest req, string email)
    {
        var context = req.HttpContext;
        var caller = context.Caller();
        email = Email(email);
        var member = await storage.TeamData.GetEntityIfExistsAsync<Membership>(caller.TeamId, Membership.RowOf(email), cancellationToken: context.RequestAborted);
        if (!member.HasValue || member.Value!.Status != "invited") throw ApiProblem.BadRequest("No pending invitation for this member in this team.");
        var m = member.Value;
        var now = Clock.NowMs();
        var windowStart = m.InviteWindowStart;
        var sent = m.InvitesSent;
        if (now - windowStart > Invites.ResendWindow.TotalMilliseconds) { windowStart = now; sent = 0; }
        if (sent >= Invites.ResendLimit) throw ApiProblem.BadRequest($"Invitation resend limit reached ({Invites.ResendLimit} per 24 hours).");
        m.InvitesSent = sent + 1;
        m.InviteWindowStart = windowStart;
        var (token, invite) = Invites.New(caller.TeamId, email);
        await AuditEntry.CommitAsync(storage.TeamData,
        [
            new TableTransactionAction(TableTransactionActionType.UpdateReplace, m, m.ETag),
            new TableTransactionAction(TableTransactionActionType.Add, invite),
        ], context.RequestAborted);
        await SendInviteAsync(storage, config, caller.Team!, email, token, context.RequestAborted);
        return Envelope.Success();
    }

    /// <summary>Activates the invited membership the token names, once; returns the team's name.</summary>
    /// <summary>A team named in a bulk request that the key cannot see answers as one named in the path would.</summary>
    private static readonly TeamFromRouteAttribute BulkTeam = new("id", 400, TeamsApi.TeamNotFound);

    /// <summary>An accepted invitation: the team joined and the member's personal key (its secret is shown only once).</summary>
    internal sealed record Joined(string TeamId, string TeamName, string Email, IssuedKey Key);

    /// <summary>
    /// Accepts an invitation: the member becomes active and receives a personal key acting with their role in every
    /// team of the organization where they are active. The key is stored first and the membership then changes in one
    /// transaction with both audit entries; a crash in between leaves a key of a member who is still only invited
    /// (it can do nothing) and a token that still works.
    /// </summary>
    internal static async Task<Joined> JoinAsync(string token, StorageAccount storage, TenantDirectory directory, CancellationToken ct)
    {
        var dot = token.IndexOf('.');
        if (dot <= 0 || token.Length > 200) throw ApiProblem.BadRequest("This invitation link is not valid.");
        var teamId = token[..dot];
        if (await directory.TeamAsync(teamId) is not { Archived: false } team || await directory.OrgAsync(team.OrgId) is not { Deleted: false })
            throw ApiProblem.BadRequest("This invitation link is not valid, was used already or has expired.");
        var invite = await storage.TeamData.GetEntityIfExistsAsync<TableEntity>(teamId, Invites.RowPrefix + Invites.Hash(token), cancellationToken: ct);
        if (!invite.HasValue || invite.Value!.GetBoolean("Used") == true || (invite.Value.GetInt64("ExpiresAt") ?? 0) < Clock.NowMs())
            throw ApiProblem.BadRequest("This invitation link is not valid, was used already or has expired.");
        var email = invite.Value.GetString("Email");
        var member = await storage.TeamData.GetEntityIfExistsAsync<Membership>(teamId, Membership.RowOf(email), cancellationToken: ct);
        // Resends leave several tokens; the first accepted one ends the invitation for all of them.
        if (!member.HasValue || member.Value!.Status != "invited") throw ApiProblem.BadRequest("This invitation link was used already or the invitation was withdrawn.");
        if (await BelongsToAnotherOrganizationAsync(storage, directory, email, team.OrgId, ct)) throw ApiProblem.BadRequest("user from different org");
        var joined = member.Value;
        joined.Status = "active";
        joined.UpdatedAt = Clock.NowMs();
        invite.Value["Used"] = true;
        var key = await ApiKeys.PersonalKeys.IssueAsync(storage, team.OrgId, teamId, email, "Personal key", "invitation", null, ct);
        var joinedEntry = AuditEntry.For(teamId, "user", email, "members.joined", "members", email,
            new JsonObject { ["status"] = new JsonObject { ["before"] = "invited", ["after"] = "active" } });
        var keyEntry = AuditEntry.For(teamId, "user", email, "api_keys.created", "api_keys", key.KeyId,
            new JsonObject { ["name"] = new JsonObject { ["before"] = null, ["after"] = "Personal key" }, ["scope"] = new JsonObject { ["before"] = null, ["after"] = KeyScopes.User } });
        joinedEntry.ActorEmail = keyEntry.ActorEmail = email;
        try
        {
            await storage.TeamData.SubmitTransactionAsync(
            [
                new TableTransactionAction(TableTransactionActionType.UpdateReplace, invite.Value, invite.Value.ETag),
                new TableTransactionAction(TableTransactionActionType.UpdateReplace, joined, joined.ETag),
                new TableTransactionAction(TableTransactionActionType.Add, joinedEntry),
                new TableTransactionAction(TableTransactionActionType.Add, keyEntry),
            ], ct);
        }
        catch (TableTransactionFailedException ex) when (ex.Status == 412)
        {
            // Another tab accepted first: that acceptance has its key, this one's must not work.
            var issued = (await storage.ApiKeys.GetEntityAsync<ApiKey>(key.KeyId, ApiKey.Row, cancellationToken: ct)).Value;
            await ApiKeys.PersonalKeys.RevokeAsync(storage, directory, issued, ct);
            throw ApiProblem.BadRequest("This invitation link was used already.");
        }
        directory.ForgetMembership(teamId, email);
        return new Joined(teamId, team.Name, email, key);
    }
}

/// <summary>
/// No credentials: the invitation token is the credential. Single use. The mailed link opens a page whose
/// button accepts; the GET itself changes nothing, because mail scanners fetch links before people do.
/// </summary>
[Public(ApiSurface.QrApi), Tags("Team members")]
public sealed class InvitesApi(StorageAccount storage, TenantDirectory directory)
{
    [Function("InvitesAccept"), EndpointSummary("Accept an invitation (the token from the invitation mail); the answer holds your personal key, shown once")]
    public async Task<IResult> AcceptAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "api/invites/{token}/accept")] HttpRequest req, string token)
    {
        var joined = await MembersApi.JoinAsync(token, storage, directory, req.HttpContext.RequestAborted);
        return Envelope.Ok(new
        {
            teamId = joined.TeamId, email = joined.Email,
            clientId = joined.Key.KeyId, clientSecret = joined.Key.Secret, bearerToken = joined.Key.BearerToken,
        });
    }

    [Function("InvitesPage"), AnswersPages, EndpointSummary("The page an invitation mail links to (accepting is its button, a POST)")]
    public IResult Page([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "invite/{token}")] HttpRequest req, string token) =>
        InvitePage(req, "Join the team",
            $"<form method=\"post\" action=\"/invite/{WebUtility.HtmlEncode(Uri.EscapeDataString(token))}\"><button type=\"submit\">Accept the invitation</button></form>");

    [Function("InvitesPageAccept"), AnswersPages, EndpointSummary("Accept an invitation from its page")]
    public async Task<IResult> PageAcceptAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "invite/{token}")] HttpRequest req, string token)
    {
        try
        {
            var joined = await MembersApi.JoinAsync(token, storage, directory, req.HttpContext.RequestAborted);
            string E(string s) => WebUtility.HtmlEncode(s);
            return InvitePage(req, "Welcome",
                $"<p>You joined {E(joined.TeamName)}. Your personal API key is below; it is shown only this once, so keep it now.</p>"
                + $"<dl><dt>x-request-team-id</dt><dd><code>{E(joined.TeamId)}</code></dd><dt>x-request-client-id</dt><dd><code>{E(joined.Key.KeyId)}</code></dd>"
                + $"<dt>x-request-client-secret</dt><dd><code>{E(joined.Key.Secret)}</code></dd><dt>Authorization: Bearer</dt><dd><code>{E(joined.Key.BearerToken)}</code></dd></dl>");
        }
        catch (ApiProblem problem)
        {
            return InvitePage(req, "Invitation not accepted", $"<p>{WebUtility.HtmlEncode(problem.Message)}</p>", problem.Status);
        }
    }

    /// <summary>Locked down as a scan page is (no scripts, no framing, forms post only back here); its URL holds the token, so nothing caches or refers it on.</summary>
    private static IResult InvitePage(HttpRequest req, string title, string body, int status = 200)
    {
        Scans.ScanPages.SetHeaders(req.HttpContext.Response.Headers);
        return Results.Content(
            $"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><meta name=\"robots\" content=\"noindex\">" +
            $"<title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>", "text/html; charset=utf-8", statusCode: status);
    }
}
