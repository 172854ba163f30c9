using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Azure.Data.Tables;
using QrFunctions.Auth;
using QrFunctions.Email;
using QrFunctions.Hosting;
using QrFunctions.Members;
using QrFunctions.Storage;
using QrFunctions.Teams;
using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Organizations;

public class MemberLifecycleTests(TestService service) : IClassFixture<TestService>
{
    private async Task<List<TableEntity>> DeliverMailAsync(string email)
    {
        await service.DrainQueueAsync("SendEmail");
        return await EmailSender.RecentAsync(service.Storage, email);
    }

    private static string TokenIn(TableEntity mail) => Regex.Match(mail.GetString("Text"), @"https://scan\.test/invite/(\S+)").Groups[1].Value;

    private async Task<Membership?> MemberAsync(string teamId, string email) =>
        (await service.Storage.TeamData.GetEntityIfExistsAsync<Membership>(teamId, Membership.RowOf(email))) is { HasValue: true } m ? m.Value : null;

    private async Task<string> EmailOfAsync(IssuedKey key) => (await service.Storage.ApiKeys.GetEntityAsync<ApiKey>(key.KeyId, ApiKey.Row)).Value.UserEmail!;

    private async Task<List<JsonElement>> AuditAsync(Tenant tenant, string query = "", string? teamId = null) =>
        (await (await tenant.V1(teamId: teamId).GetAsync("/v1/audit-logs?limit=100" + query)).BodyAsync()).GetProperty("data").EnumerateArray().ToList();

    private async Task<int> AuditRowsAsync(string partition)
    {
        var count = 0;
        await foreach (var _ in service.Storage.TeamData.QueryAsync<TableEntity>(TableQueries.PrefixFilter(partition, QrFunctions.AuditLogs.AuditEntry.RowPrefix), select: ["RowKey"])) count++;
        return count;
    }

    private static string NewEmail(string who) => $"{who}-{Ids.Random(6)}@example.test".ToLowerInvariant();

    [Fact]
    public async Task SomeoneActiveInTheOrganizationJoinsAnotherTeamAtOnceAndIsTold()
    {
        var tenant = await service.NewTenantAsync();
        var key = await tenant.MemberKeyAsync(Role.Editor);
        var email = await EmailOfAsync(key);
        var second = (await tenant.QrApi().PostJsonAsync("/api/teams-api", new { name = "Second" }).DataAsync()).GetProperty("id").GetString()!;
        await tenant.QrApi(key, second).GetAsync("/api/qrs-api/v2/teams").ErrorAsync(HttpStatusCode.Forbidden);

        await tenant.QrApi().PutJsonAsync($"/api/teams-api/{second}/members", new { name = "Ed", email, role = "viewer" }).OkAsync();
        Assert.Equal("active", (await MemberAsync(second, email))!.Status);
        await tenant.QrApi(key, second).GetAsync("/api/qrs-api/v2/teams").DataAsync();
        var teams = await tenant.QrApi(key).GetAsync("/api/teams-api").DataAsync();
        Assert.Equal(new[] { second, tenant.TeamId }.Order(), teams.EnumerateArray().Select(t => t.GetProperty("id").GetString()!).Order());
        var mail = Assert.Single(await DeliverMailAsync(email));
        Assert.Contains("added to Second", mail.GetString("Subject"));
        Assert.DoesNotContain("/invite/", mail.GetString("Text"));
    }

    [Fact]
    public async Task AddingOrUpdatingAMemberValidatesTheBodyAndNeverTouchesTheOwner()
    {
        var tenant = await service.NewTenantAsync();
        var owner = tenant.QrApi();
        var url = $"/api/teams-api/{tenant.TeamId}/members";
        var email = NewEmail("new");
        await owner.PutJsonAsync(url, new { name = "N", email, role = "owner" }).ErrorAsync(HttpStatusCode.BadRequest, "role must be one of admin, editor, viewer");
        await owner.PutJsonAsync(url, new { name = "N", email, role = "superuser" }).ErrorAsync(HttpStatusCode.BadRequest, "role");
        await owner.PutJsonAsync(url, new { name = "N", email = "not-an-email", role = "viewer" }).ErrorAsync(HttpStatusCode.BadRequest, "email");
        await owner.PutJsonAsync(url, new { email, role = "viewer" }).ErrorAsync(HttpStatusCode.BadRequest, "name");
        await owner.PutJsonAsync(url, new { name = "N", email = tenant.OwnerEmail, role = "admin" }).ErrorAsync(HttpStatusCode.BadRequest, "owner");
        Assert.Null(await MemberAsync(tenant.TeamId, email));

        await owner.PutJsonAsync(url, new { name = "Nina", email = email.ToUpperInvariant(), role = "viewer" }).OkAsync();
        await owner.PutJsonAsync(url, new { name = "Nina Neu", email, role = "admin" }).OkAsync();
        var member = (await MemberAsync(tenant.TeamId, email))!;
        Assert.Equal(("Nina Neu", "admin", "invited"), (member.Name, member.Role, member.Status));
        var updated = Assert.Single(await AuditAsync(tenant, "&action=members.updated"));
        Assert.Equal(email, updated.GetProperty("resource_id").GetString());
        Assert.Equal("admin", updated.GetProperty("changes").GetProperty("role").GetProperty("after").GetString());
        Assert.Single(await DeliverMailAsync(email)); // the update sends no second invitation
    }

    [Fact]
    public async Task BulkAddingIsAllOrNothingAcrossTheNamedTeams()
    {
        var tenant = await service.NewTenantAsync();
        var other = await service.NewTenantAsync();
        var owner = tenant.QrApi();
        var second = (await owner.PostJsonAsync("/api/teams-api", new { name = "Second" }).DataAsync()).GetProperty("id").GetString()!;
        var email = NewEmail("bulk");
        object Body(params (string Team, string Role)[] teams) => new { name = "Bo", email, teams = teams.Select(t => new { teamId = t.Team, role = t.Role }) };

        await owner.PostJsonAsync("/api/teams-api/members/bulk", Body((tenant.TeamId, "viewer"), (other.TeamId, "viewer"))).ErrorAsync(HttpStatusCode.BadRequest, "Team not found");
        await owner.PostJsonAsync("/api/teams-api/members/bulk", Body((tenant.TeamId, "viewer"), (second, "owner"))).ErrorAsync(HttpStatusCode.BadRequest, "role");
        await owner.PostJsonAsync("/api/teams-api/members/bulk", Body()).ErrorAsync(HttpStatusCode.BadRequest, "teams");
        // An admin of the first team who is only a viewer in the second may not add to either.
        var admin = await tenant.MemberKeyAsync(Role.Admin);
        await owner.PutJsonAsync($"/api/teams-api/{second}/members", new { name = "A", email = await EmailOfAsync(admin), role = "viewer" }).OkAsync();
        await tenant.QrApi(admin).PostJsonAsync("/api/teams-api/members/bulk", Body((tenant.TeamId, "viewer"), (second, "viewer"))).ErrorAsync(HttpStatusCode.Forbidden, "admin");
        Assert.Null(await MemberAsync(tenant.TeamId, email));
        Assert.Null(await MemberAsync(second, email));
        Assert.Null(await MemberAsync(other.TeamId, email));

        await owner.PostJsonAsync("/api/teams-api/members/bulk", Body((tenant.TeamId, "editor"), (second, "viewer"))).OkAsync();
        Assert.Equal(("editor", "invited"), ((await MemberAsync(tenant.TeamId, email))!.Role, (await MemberAsync(tenant.TeamId, email))!.Status));
        Assert.Equal("viewer", (await MemberAsync(second, email))!.Role);
        // A new person gets one invitation per team, each token naming its team.
        var tokens = (await DeliverMailAsync(email)).Select(TokenIn).ToList();
        Assert.Equal(new[] { tenant.TeamId, second }.Order(), tokens.Select(t => t[..t.IndexOf('.')]).Order());
    }

    [Fact]
    public async Task TheInvitationPageAcceptsOnlyByItsButtonAndOnlyOnce()
    {
        var tenant = await service.NewTenantAsync();
        var email = NewEmail("page");
        await tenant.QrApi().PutJsonAsync($"/api/teams-api/{tenant.TeamId}/members", new { name = "P", email, role = "viewer" }).OkAsync();
        var token = TokenIn(Assert.Single(await DeliverMailAsync(email)));
        var web = service.Anonymous();

        var page = await web.GetAsync($"/invite/{token}");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("<form method=\"post\"", await page.Content.ReadAsStringAsync());
        Assert.Equal("invited", (await MemberAsync(tenant.TeamId, email))!.Status); // opening the link changes nothing

        var accepted = await web.PostAsync($"/invite/{token}", null);
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        Assert.Contains("You joined", await accepted.Content.ReadAsStringAsync());
        Assert.Equal("active", (await MemberAsync(tenant.TeamId, email))!.Status);
        var again = await web.PostAsync($"/invite/{token}", null);
        Assert.Equal(HttpStatusCode.BadRequest, again.StatusCode);
        Assert.Contains("used already", await again.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.BadRequest, (await web.PostAsync($"/invite/{tenant.TeamId}.{new string('x', 43)}", null)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await web.PostAsync("/invite/no-dot-here", null)).StatusCode);
        var joined = Assert.Single(await AuditAsync(tenant, "&action=members.joined"));
        Assert.Equal(("user", email), (joined.GetProperty("actor_type").GetString(), joined.GetProperty("actor_id").GetString()));
    }

    [Fact]
    public async Task AfterAResendTheFirstAcceptedTokenEndsTheInvitationAndOldTokensExpire()
    {
        var tenant = await service.NewTenantAsync();
        var email = NewEmail("twice");
        await tenant.QrApi().PutJsonAsync($"/api/teams-api/{tenant.TeamId}/members", new { name = "T", email, role = "viewer" }).OkAsync();
        await tenant.QrApi().GetAsync($"/api/teams-api/resend/invite/{email}").OkAsync();
        var tokens = (await DeliverMailAsync(email)).Select(TokenIn).ToList(); // newest first
        Assert.Equal(2, tokens.Distinct().Count());
        await service.Anonymous().PostAsync($"/api/invites/{tokens[0]}/accept", null).OkAsync();
        await service.Anonymous().PostAsync($"/api/invites/{tokens[1]}/accept", null).ErrorAsync(HttpStatusCode.BadRequest, "used already");
        // Resending to someone who has joined is refused.
        await tenant.QrApi().GetAsync($"/api/teams-api/resend/invite/{email}").ErrorAsync(HttpStatusCode.BadRequest, "No pending invitation");

        var late = NewEmail("late");
        await tenant.QrApi().PutJsonAsync($"/api/teams-api/{tenant.TeamId}/members", new { name = "L", email = late, role = "viewer" }).OkAsync();
        var lateToken = TokenIn(Assert.Single(await DeliverMailAsync(late)));
        var invite = (await service.Storage.TeamData.GetEntityAsync<TableEntity>(tenant.TeamId, Invites.RowPrefix + Invites.Hash(lateToken))).Value;
        Assert.DoesNotContain(lateToken, JsonSerializer.Serialize(invite)); // only the hash is stored
        invite["ExpiresAt"] = Clock.NowMs() - 1;
        await service.Storage.TeamData.UpdateEntityAsync(invite, invite.ETag);
        await service.Anonymous().PostAsync($"/api/invites/{lateToken}/accept", null).ErrorAsync(HttpStatusCode.BadRequest, "expired");
        Assert.Equal("invited", (await MemberAsync(tenant.TeamId, late))!.Status);
    }

    [Fact]
    public async Task DomainPreferencesTakeBareHostNamesAndTheDefaultMustBeOneOfThem()
    {
        var tenant = await service.NewTenantAsync();
        var url = $"/api/teams-api/{tenant.TeamId}/domainPreferences";
        var owner = tenant.QrApi();
        foreach (var bad in new[] { "https://qr.example.com", "qr.example.com:8080", "qr.example.com/path", "localhost", "*.example.com", "qr..example.com", "-qr.example.com" })
            await owner.PutJsonAsync(url, new { defaultDomain = bad, domains = new[] { bad } }).ErrorAsync(HttpStatusCode.BadRequest, "host names");
        await owner.PutJsonAsync(url, new { defaultDomain = "qr.example.com", domains = new[] { "links.example.com" } }).ErrorAsync(HttpStatusCode.BadRequest, "defaultDomain must be one of domains");
        await owner.PutJsonAsync(url, new { defaultDomain = "qr.example.com" }).ErrorAsync(HttpStatusCode.BadRequest, "domains");
        await owner.PutJsonAsync(url, new { domains = new[] { "qr.example.com" } }).ErrorAsync(HttpStatusCode.BadRequest, "defaultDomain");
        var entriesBefore = await AuditRowsAsync(tenant.TeamId);

        var team = await owner.PutJsonAsync(url, new { defaultDomain = "QR.Example.com.", domains = new[] { "qr.example.com", "bäckerei.example" } }).DataAsync();
        var idn = new IdnMapping().GetAscii("bäckerei.example");
        Assert.Equal(["qr.example.com", idn], team.GetProperty("domains").EnumerateArray().Select(d => d.GetString()));
        Assert.Equal("qr.example.com", team.GetProperty("defaultDomain").GetString());
        Assert.Equal(entriesBefore + 1, await AuditRowsAsync(tenant.TeamId));
        var entry = (await AuditAsync(tenant, "&action=workspaces.updated"))[0];
        Assert.Equal(idn, entry.GetProperty("changes").GetProperty("domainsJson").GetProperty("after").GetString()!.Split('"')[3]);
    }

    [Fact]
    public async Task PausingAndActivatingFollowTheMembersState()
    {
        var tenant = await service.NewTenantAsync();
        var owner = tenant.QrApi();
        var invited = NewEmail("inv");
        await owner.PutJsonAsync($"/api/teams-api/{tenant.TeamId}/members", new { name = "I", email = invited, role = "viewer" }).OkAsync();
        await owner.PutAsync($"/api/teams-api/{tenant.TeamId}/members/{invited}/pause", null).ErrorAsync(HttpStatusCode.BadRequest, "invited");
        await owner.PutAsync($"/api/teams-api/{tenant.TeamId}/members/{invited}/activate", null).ErrorAsync(HttpStatusCode.BadRequest, "accepting");
        await owner.PutAsync($"/api/teams-api/{tenant.TeamId}/members/nobody@example.test/pause", null).ErrorAsync(HttpStatusCode.BadRequest, "not found");
        await owner.PutAsync($"/api/teams-api/{tenant.TeamId}/members/{tenant.OwnerEmail}/pause", null).ErrorAsync(HttpStatusCode.BadRequest, "owner");
        await owner.PutJsonAsync($"/api/teams-api/{tenant.TeamId}/members/{invited}/changeRole", new { role = "" }).ErrorAsync(HttpStatusCode.BadRequest, "role");
        await owner.PutAsync($"/api/teams-api/{tenant.TeamId}/members/not-an-email/pause", null).ErrorAsync(HttpStatusCode.BadRequest, "email");

        var key = await tenant.MemberKeyAsync(Role.Editor);
        var email = await EmailOfAsync(key);
        var before = await AuditRowsAsync(tenant.TeamId);
        await owner.PutAsync($"/api/teams-api/{tenant.TeamId}/members/{email}/activate", null).OkAsync(); // already active: no change, no entry
        await owner.PutJsonAsync($"/api/teams-api/{tenant.TeamId}/members/{email}/changeRole", new { role = "editor" }).OkAsync();
        Assert.Equal(before, await AuditRowsAsync(tenant.TeamId));
    }

    [Fact]
    public async Task TeamsCreatedOnEitherSurfaceCountAgainstThePlanAndArchivingFreesASlot()
    {
        // The QR-code API (surface A) starts at Business Plus; three workspaces as on Pro.
        var tenant = await service.NewTenantAsync("Business Plus", """{"requestsPerSecond":100,"burst":100,"maxWorkspaces":3}""");
        var owner = tenant.QrApi();
        await owner.PostJsonAsync("/api/teams-api", new { name = "  " }).ErrorAsync(HttpStatusCode.BadRequest, "name");
        var byOwner = await owner.PostJsonAsync("/api/teams-api", new { name = "By the owner" }).DataAsync();
        var admin = await tenant.MemberKeyAsync(Role.Admin);
        var byAdmin = await tenant.QrApi(admin).PostJsonAsync("/api/teams-api", new { name = "By an admin" }).DataAsync();
        await owner.PostJsonAsync("/api/teams-api", new { name = "Fourth" }).ErrorAsync(HttpStatusCode.Forbidden, "at most 3 workspaces");
        var v1Refusal = await (await tenant.V1().PostJsonAsync("/v1/workspaces", new { name = "Fourth", slug = "fourth" })).BodyAsync();
        Assert.Contains("Business Plus plan allows at most 3 workspaces", v1Refusal.GetProperty("error").GetProperty("message").GetString());

        // The creator joins: the organization's owner as owner, anyone else as admin.
        string RoleIn(JsonElement team, string email) => team.GetProperty("members").EnumerateArray().Single(m => m.GetProperty("email").GetString() == email).GetProperty("role").GetString()!;
        var ownerTeam = await owner.GetAsync($"/api/teams-api/{byOwner.GetProperty("id").GetString()}").DataAsync();
        Assert.Equal("owner", RoleIn(ownerTeam, tenant.OwnerEmail));
        var adminTeam = await tenant.QrApi(admin).GetAsync($"/api/teams-api/{byAdmin.GetProperty("id").GetString()}").DataAsync();
        Assert.Equal("admin", RoleIn(adminTeam, await EmailOfAsync(admin)));
        Assert.Equal(tenant.OrgId, adminTeam.GetProperty("orgId").GetString());

        Assert.Equal(HttpStatusCode.OK, (await tenant.V1().DeleteAsync($"/v1/workspaces/{byAdmin.GetProperty("id").GetString()}")).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await tenant.V1().PostJsonAsync("/v1/workspaces", new { name = "Fourth", slug = "fourth" })).StatusCode);
        await owner.PostJsonAsync("/api/teams-api", new { name = "Fifth" }).ErrorAsync(HttpStatusCode.Forbidden, "limit");
        var list = (await (await tenant.V1().GetAsync("/v1/workspaces")).BodyAsync()).GetProperty("data").EnumerateArray().ToList();
        Assert.Equal(4, list.Count);
        Assert.Equal(1, list.Count(w => w.GetProperty("archived").GetBoolean()));
    }

    [Fact]
    public async Task EveryMemberChangeIsAuditedInTheTeamItHappensIn()
    {
        var tenant = await service.NewTenantAsync();
        var owner = tenant.QrApi();
        var second = (await owner.PostJsonAsync("/api/teams-api", new { name = "Second" }).DataAsync()).GetProperty("id").GetString()!;
        var key = await tenant.MemberKeyAsync(Role.Editor);
        var email = await EmailOfAsync(key);
        await owner.PutJsonAsync($"/api/teams-api/{second}/members", new { name = "E", email, role = "viewer" }).OkAsync();
        await owner.PutAsync($"/api/teams-api/{tenant.TeamId}/members/{email}/pause", null).OkAsync();
        await owner.PutAsync($"/api/teams-api/{tenant.TeamId}/members/{email}/activate", null).OkAsync();
        await owner.PutJsonAsync($"/api/teams-api/{tenant.TeamId}/members/{email}/changeRole", new { role = "admin" }).OkAsync();
        await owner.DeleteAsync($"/api/teams-api/{second}/members/{email}").OkAsync();
        // Refused requests leave nothing.
        var before = await AuditRowsAsync(tenant.TeamId);
        await owner.PutJsonAsync($"/api/teams-api/{tenant.TeamId}", new { name = "" }).ErrorAsync(HttpStatusCode.BadRequest, "name");
        await owner.DeleteAsync($"/api/teams-api/{tenant.TeamId}/members/{email}").ErrorAsync(HttpStatusCode.BadRequest, "last team");
        await owner.PutJsonAsync($"/api/teams-api/{tenant.TeamId}/members/{email}/changeRole", new { role = "owner" }).ErrorAsync(HttpStatusCode.BadRequest);
        Assert.Equal(before, await AuditRowsAsync(tenant.TeamId));
        await owner.DeleteAsync($"/api/teams-api/{tenant.TeamId}/members/{email}/delete").OkAsync();

        var mine = await AuditAsync(tenant, $"&resource_type=members&resource_id={email}");
        Assert.Equal(["members.deleted", "members.role_changed", "members.activated", "members.paused"], mine.Select(e => e.GetProperty("action").GetString()));
        var paused = mine.Single(e => e.GetProperty("action").GetString() == "members.paused");
        Assert.Equal(("active", "paused"), (paused.GetProperty("changes").GetProperty("status").GetProperty("before").GetString(), paused.GetProperty("changes").GetProperty("status").GetProperty("after").GetString()));
        Assert.Equal(tenant.OwnerKey.KeyId, paused.GetProperty("actor_id").GetString());
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", paused.GetProperty("created_at").GetString());
        Assert.Single(await AuditAsync(tenant, "&action=members.paused"));
        Assert.Empty(await AuditAsync(tenant, "&action=members.paused&resource_id=someone-else@example.test"));

        var inSecond = await AuditAsync(tenant, $"&resource_id={email}", second);
        Assert.Equal(["members.removed", "members.added"], inSecond.Select(e => e.GetProperty("action").GetString()));
        Assert.Equal("active", inSecond[1].GetProperty("changes").GetProperty("status").GetProperty("after").GetString());
        // The deleted member's key is revoked.
        Assert.True((await service.Storage.ApiKeys.GetEntityAsync<ApiKey>(key.KeyId, ApiKey.Row)).Value.Revoked);
    }
    [Fact]
    public async Task AWorkspaceKeyCreatesATeamThatItsWorkspacesOwnerOwns()
    {
        var tenant = await service.NewTenantAsync();
        var issued = await (await tenant.V1().PostJsonAsync("/v1/api-keys", new { name = "ci", scope = "workspace" })).BodyAsync();
        var key = new IssuedKey(issued.GetProperty("client_id").GetString()!, issued.GetProperty("client_secret").GetString()!);
        var mine = await tenant.QrApi(key).GetAsync("/api/teams-api").DataAsync();
        Assert.Equal([tenant.TeamId], mine.EnumerateArray().Select(t => t.GetProperty("id").GetString()));

        var created = await tenant.QrApi(key).PostJsonAsync("/api/teams-api", new { name = "Made by CI" }).DataAsync();
        var id = created.GetProperty("id").GetString()!;
        Assert.Equal("owner", (await MemberAsync(id, tenant.OwnerEmail))!.Role);
        var ownersTeams = await tenant.QrApi().GetAsync("/api/teams-api").DataAsync();
        Assert.Contains(id, ownersTeams.EnumerateArray().Select(t => t.GetProperty("id").GetString()));
        // The workspace key stays confined to its own workspace.
        await tenant.QrApi(key).GetAsync($"/api/teams-api/{id}").ErrorAsync(HttpStatusCode.BadRequest, "Team not found");
    }
}
