using System.Net;
using Azure.Data.Tables;
using QrFunctions.Auth;
using QrFunctions.Organizations;
using QrFunctions.Storage;
using QrFunctions.Teams;
using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Organizations;

/// <summary>
/// The contract's role table and organization isolation, one row per endpoint: every role against every
/// endpoint of the organization/team/member/audit surfaces, and one organization's key against another's ids.
/// A refused request must leave no audit entry behind.
/// </summary>
public class AccessMatrixTests(TestService service) : IClassFixture<TestService>
{
    /// <summary>A tenant with a second team and members in known states, so every member action can succeed.</summary>
    private sealed record Arranged(Tenant Tenant, string Team2, string TeamName, string Member, string Paused, string Invited,
        string Qr = "", string Key = "", string Webhook = "", string Batch = "");

    private async Task AddMembershipAsync(Tenant tenant, string teamId, string email, string role, string status)
    {
        var now = Clock.NowMs();
        await service.Storage.TeamData.AddEntityAsync(new Membership
        {
            PartitionKey = teamId, RowKey = Membership.RowOf(email), Name = email, Role = role, Status = status, CreatedAt = now, UpdatedAt = now,
        });
        await service.Storage.Users.UpsertEntityAsync(new UserTeam { PartitionKey = email, RowKey = UserTeam.RowPrefix + teamId, OrgId = tenant.OrgId });
    }

    /// <summary>
    /// A tenant with a second team and members in known states, all made through the API, so every member action can
    /// succeed: a member active in both teams, one active in the second and paused in the first, one still invited;
    /// and the callers of the matrix, made as people become members (invited, mail delivered, link accepted): viewer,
    /// editor and admin of the team, and a viewer active in the second team but paused in this one.
    /// </summary>
    private static async Task<(Arranged Arranged, Callers Callers)> ArrangeAsync(TestService service)
    {
        var tenant = await service.NewTenantAsync();
        var team2 = (await (await tenant.V1().PostJsonAsync("/v1/workspaces", new { name = "Second " + Ids.Random(6), slug = "second-" + Ids.Random(6).ToLowerInvariant().Replace('_', 'x') }))
            .BodyAsync()).GetProperty("id").GetString()!;
        var teamName = "Private team " + Ids.Random(8);
        await tenant.QrApi().PutJsonAsync($"/api/teams-api/{tenant.TeamId}", new { name = teamName }).DataAsync();

        Role[] roles = [Role.Viewer, Role.Viewer, Role.Viewer, Role.Editor, Role.Admin, Role.Viewer, Role.Viewer];
        var emails = new List<string>();
        foreach (var role in roles) emails.Add(await tenant.InviteAsync(role));
        // emails: member, paused, viewer, editor, admin, paused caller; the last one stays invited.
        var keys = new List<IssuedKey>();
        foreach (var email in emails.Take(6)) keys.Add(await tenant.AcceptInvitationAsync(email));
        foreach (var email in new[] { emails[0], emails[1], emails[5] })
            await tenant.QrApi(teamId: team2).PutJsonAsync($"/api/teams-api/{team2}/members", new { name = email, email, role = "viewer" }).OkAsync();
        foreach (var email in new[] { emails[1], emails[5] })
            await tenant.QrApi().PutAsync($"/api/teams-api/{tenant.TeamId}/members/{email}/pause", null).OkAsync();
        return (new Arranged(tenant, team2, teamName, emails[0], emails[1], emails[6]), new Callers(keys[2], keys[3], keys[4], keys[5]));
    }

    private async Task<Arranged> ArrangeAsync() => (await ArrangeAsync(service)).Arranged;

    private static string Fill(string spec, Arranged a) => spec
        .Replace("{team}", a.Tenant.TeamId).Replace("{team2}", a.Team2).Replace("{org}", a.Tenant.OrgId)
        .Replace("{member}", a.Member).Replace("{paused}", a.Paused).Replace("{invited}", a.Invited)
        .Replace("{qr}", a.Qr).Replace("{key}", a.Key).Replace("{webhook}", a.Webhook).Replace("{batch}", a.Batch)
        .Replace("{fresh}", $"new-{Ids.Random(8)}@example.test".ToLowerInvariant());

    /// <summary>Audit rows of the organization and both teams: a refused request must not change the count.</summary>
    private async Task<int> AuditCountAsync(Arranged a)
    {
        var count = 0;
        foreach (var (table, pk) in new[] { (service.Storage.TeamData, a.Tenant.TeamId), (service.Storage.TeamData, a.Team2), (service.Storage.Orgs, a.Tenant.OrgId) })
            await foreach (var _ in table.QueryAsync<TableEntity>(TableQueries.PrefixFilter(pk, QrFunctions.AuditLogs.AuditEntry.RowPrefix), select: ["RowKey"]))
                count++;
        return count;
    }

    private static HttpRequestMessage Request(string method, string spec)
    {
        var parts = spec.Split('|', 2);
        var request = new HttpRequestMessage(new HttpMethod(method), parts[0]);
        if (parts.Length == 2)
            request.Content = parts[1] == "@png"
                ? new ByteArrayContent(File.ReadAllBytes(Path.Combine(RepoPaths.Root, "tests/QrFunctions.Tests/Qrs/logo.png"))) { Headers = { ContentType = new("image/png") } }
                : ApiCalls.Json(parts[1]);
        return request;
    }

    private sealed record Callers(IssuedKey Viewer, IssuedKey Editor, IssuedKey Admin, IssuedKey Paused);

    /// <summary>What the objects of the calls need: a code, a workspace key, a webhook subscription; a pending change for approvals.</summary>
    private async Task<Arranged> ArrangeObjectsAsync(Arranged a, Callers callers, string spec)
    {
        var owner = a.Tenant.QrApi();
        var qr = (await owner.PostJsonAsync("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://a.example/" }).DataAsync(HttpStatusCode.Created)).GetProperty("id").GetString()!;
        var key = (await (await a.Tenant.V1().PostJsonAsync("/v1/api-keys", new { name = "workspace key" })).BodyAsync()).GetProperty("id").GetString()!;
        var webhook = (await (await a.Tenant.V1().PostJsonAsync("/v1/webhooks", new { url = "https://1.1.1.1/hook", events = new[] { "codes.created" } })).BodyAsync())
            .GetProperty("id").GetString()!;
        if (spec.Contains("/approve") || spec.Contains("/reject"))
        {
            Assert.Equal(HttpStatusCode.OK, (await a.Tenant.V1().PatchJsonAsync($"/v1/workspaces/{a.Tenant.TeamId}", new { approval_required = true })).StatusCode);
            await a.Tenant.QrApi(callers.Editor).PutJsonAsync($"/api/qrs-api/{qr}", new { qrType = "WEB", qrRedirectUrl = "https://b.example/" }).DataAsync();
        }
        var batch = spec.Contains("{batch}")
            ? (await owner.PostJsonAsync("/api/qrs-api/bulk", new { codes = new[] { new { qrType = "WEB", qrRedirectUrl = "https://a.example/" } } })
                .DataAsync(HttpStatusCode.Accepted)).GetProperty("batchId").GetString()!
            : "";
        return a with { Qr = qr, Key = key, Webhook = webhook, Batch = batch };
    }

    public static TheoryData<string, string, string, int[]> RoleMatrix => new()
    {
        // function name, method, path|body ("@png": the test logo as the body), expected status for viewer, editor, admin, owner, and a paused member
        { "AnalyticsBreakdown", "GET", "/api/analytics-api/breakdown/{qr}", [200, 200, 200, 200, 403] },
        { "AnalyticsDetailed", "GET", "/api/analytics-api/detailed/{qr}", [200, 200, 200, 200, 403] },
        { "AnalyticsDetailedAll", "POST", "/api/analytics-api/detailed/all|{\"qrIds\":[\"{qr}\"],\"startTime\":1,\"endTime\":2}", [200, 200, 200, 200, 403] },
        { "AnalyticsScansCsv", "GET", "/api/analytics-api/scans.csv?qrId={qr}", [200, 200, 200, 200, 403] },
        { "AnalyticsOverviews", "POST", "/api/analytics-api/overviews|{\"qrIds\":[\"{qr}\"]}", [200, 200, 200, 200, 403] },
        { "ApiKeysCreate", "POST", "/v1/api-keys|{\"name\":\"mine\",\"scope\":\"user\"}", [201, 201, 201, 201, 403] },
        { "ApiKeysCreate", "POST", "/v1/api-keys|{\"name\":\"workspace\"}", [403, 403, 201, 201, 403] },
        { "ApiKeysList", "GET", "/v1/api-keys", [200, 200, 200, 200, 403] },
        { "ApiKeysRevoke", "DELETE", "/v1/api-keys/{key}", [404, 404, 200, 200, 403] },
        { "AuditLogsList", "GET", "/v1/audit-logs", [200, 200, 200, 200, 403] },
        { "DevOutbox", "GET", "/api/dev/outbox?email={member}", [404, 404, 404, 404, 403] },
        { "MembersActivate", "PUT", "/api/teams-api/{team}/members/{paused}/activate", [403, 403, 200, 200, 403] },
        { "MembersAddOrUpdate", "PUT", "/api/teams-api/{team}/members|{\"name\":\"n\",\"email\":\"{fresh}\",\"role\":\"viewer\"}", [403, 403, 200, 200, 403] },
        { "MembersBulkAdd", "POST", "/api/teams-api/members/bulk|{\"name\":\"n\",\"email\":\"{fresh}\",\"teams\":[{\"teamId\":\"{team}\",\"role\":\"viewer\"}]}", [403, 403, 200, 200, 403] },
        { "MembersChangeRole", "PUT", "/api/teams-api/{team}/members/{member}/changeRole|{\"role\":\"editor\"}", [403, 403, 200, 200, 403] },
        { "MembersDelete", "DELETE", "/api/teams-api/{team}/members/{member}/delete", [403, 403, 403, 200, 403] },
        { "MembersPause", "PUT", "/api/teams-api/{team}/members/{member}/pause", [403, 403, 200, 200, 403] },
        { "MembersRemove", "DELETE", "/api/teams-api/{team}/members/{member}", [403, 403, 200, 200, 403] },
        { "MembersResendInvite", "GET", "/api/teams-api/resend/invite/{invited}", [403, 403, 200, 200, 403] },
        { "OrganizationsCreate", "POST", "/v1/organizations|{\"name\":\"n\",\"slug\":\"never-made\",\"owner_email\":\"o@example.test\"}", [403, 403, 403, 403, 403] },
        { "OrganizationsDelete", "DELETE", "/v1/organizations/{org}", [403, 403, 403, 200, 403] },
        { "OrganizationsGet", "GET", "/v1/organizations", [200, 200, 200, 200, 403] },
        { "OrganizationsUpdate", "PATCH", "/v1/organizations/{org}|{\"name\":\"n\"}", [403, 403, 403, 200, 403] },
        { "QrsAllFromTime", "GET", "/api/qrs-api/all/fromTime/0", [200, 200, 200, 200, 403] },
        { "QrsApprove", "POST", "/api/qrs-api/{qr}/approve", [403, 403, 200, 200, 403] },
        { "QrsBulkCreate", "POST", "/api/qrs-api/bulk|{\"codes\":[{\"qrType\":\"WEB\",\"qrRedirectUrl\":\"https://a.example/\"}]}", [403, 202, 202, 202, 403] },
        { "QrsBulkStatus", "GET", "/api/qrs-api/bulk/{batch}", [200, 200, 200, 200, 403] },
        { "QrsCreate", "POST", "/api/qrs-api|{\"qrType\":\"WEB\",\"qrRedirectUrl\":\"https://a.example/\"}", [403, 201, 201, 201, 403] },
        { "QrsDelete", "DELETE", "/api/qrs-api/{qr}", [403, 200, 200, 200, 403] },
        { "QrsDuplicate", "POST", "/api/qrs-api/duplicate/{qr}", [403, 201, 201, 201, 403] },
        { "QrsExport", "GET", "/api/qrs-api/export.csv", [200, 200, 200, 200, 403] },
        { "QrsGet", "GET", "/api/qrs-api/{qr}", [200, 200, 200, 200, 403] },
        { "QrsGetByTeam", "GET", "/api/qrs-api/teams/{qr}", [200, 200, 200, 200, 403] },
        { "QrsImage", "POST", "/api/qrs-api/{qr}/image|@png", [403, 200, 200, 200, 403] },
        { "QrsList", "GET", "/api/qrs-api/v2/teams", [200, 200, 200, 200, 403] },
        // Leads are personal data: editors and up read and erase them (a lead that is not there: 404 after the role check).
        { "QrsLeads", "GET", "/api/qrs-api/{qr}/leads", [403, 200, 200, 200, 403] },
        { "QrsLeadDelete", "DELETE", "/api/qrs-api/{qr}/leads/1-00000000000000000000000000000000", [403, 404, 404, 404, 403] },
        { "QrsPrintImage", "GET", "/api/qrs-api/{qr}/image?format=svg&size=100", [200, 200, 200, 200, 403] },
        { "QrsReject", "POST", "/api/qrs-api/{qr}/reject", [403, 403, 200, 200, 403] },
        { "QrsTags", "PUT", "/api/qrs-api/{qr}/tags|{\"tags\":[\"a\"]}", [403, 200, 200, 200, 403] },
        { "QrsTeamFromTime", "GET", "/api/qrs-api/teams/fromTime/0", [200, 200, 200, 200, 403] },
        { "QrsTitle", "PATCH", "/api/qrs-api/{qr}/title|{\"title\":\"t\"}", [403, 200, 200, 200, 403] },
        { "QrsUpdate", "PUT", "/api/qrs-api/{qr}|{\"qrType\":\"WEB\",\"qrRedirectUrl\":\"https://c.example/\"}", [403, 200, 200, 200, 403] },
        { "TeamsCreate", "POST", "/api/teams-api|{\"name\":\"t\"}", [403, 403, 200, 200, 403] },
        { "TeamsDomainPreferences", "PUT", "/api/teams-api/{team}/domainPreferences|{\"defaultDomain\":\"qr.a.example\",\"domains\":[\"qr.a.example\"]}", [403, 403, 200, 200, 403] },
        { "TeamsGet", "GET", "/api/teams-api/{team}", [200, 200, 200, 200, 403] },
        { "TeamsList", "GET", "/api/teams-api", [200, 200, 200, 200, 403] },
        { "TeamsRename", "PUT", "/api/teams-api/{team}|{\"name\":\"n\"}", [403, 403, 200, 200, 403] },
        { "TemplatesList", "GET", "/api/qr-templates-api", [200, 200, 200, 200, 403] },
        { "UsageGet", "GET", "/v1/usage?from=2026-01-01&to=2026-01-31", [403, 403, 200, 200, 403] },
        { "WebhooksCreate", "POST", "/v1/webhooks|{\"url\":\"https://1.1.1.1/hook\",\"events\":[\"codes.created\"]}", [403, 403, 201, 201, 403] },
        { "WebhooksDelete", "DELETE", "/v1/webhooks/{webhook}", [403, 403, 200, 200, 403] },
        { "WebhooksList", "GET", "/v1/webhooks", [403, 403, 200, 200, 403] },
        { "WorkspacesArchive", "DELETE", "/v1/workspaces/{team2}", [403, 403, 403, 200, 403] },
        { "WorkspacesCreate", "POST", "/v1/workspaces|{\"name\":\"w\",\"slug\":\"w-slug\"}", [403, 403, 403, 201, 403] },
        { "WorkspacesList", "GET", "/v1/workspaces", [200, 200, 200, 200, 403] },
        { "WorkspacesUpdate", "PATCH", "/v1/workspaces/{team}|{\"name\":\"w\"}", [403, 403, 200, 200, 403] },
    };

    [Fact]
    public void TheMatrixHasARowForEveryFunctionThatTakesCredentials()
    {
        var rows = RoleMatrix.Select(r => (string)r[0]).ToHashSet();
        var credentialed = QrFunctions.Hosting.FunctionCatalog.App.HttpFunctions.Where(f => !f.Access.IsPublic).Select(f => f.Name);
        Assert.Empty(credentialed.Except(rows));
    }

    [Theory]
    [MemberData(nameof(RoleMatrix))]
    public async Task EachRoleGetsWhatTheContractsRoleTableSays(string function, string method, string spec, int[] expected)
    {
        var roles = new[] { "viewer", "editor", "admin", "owner", "paused member" };
        Arranged? arranged = null;
        Callers? callers = null;
        for (var i = 0; i < roles.Length; i++)
        {
            // A fresh organization whenever an earlier call of this row changed something (a second success would find it changed).
            if (arranged is null)
            {
                (arranged, callers) = await ArrangeAsync(service);
                arranged = await ArrangeObjectsAsync(arranged, callers, spec);
            }
            var tenant = arranged.Tenant;
            var key = roles[i] switch { "viewer" => callers!.Viewer, "editor" => callers!.Editor, "admin" => callers!.Admin, "owner" => tenant.OwnerKey, _ => callers!.Paused };
            var path = Fill(spec, arranged);
            var client = path.StartsWith("/v1") ? tenant.V1(key, tenant.TeamId) : tenant.QrApi(key);
            var auditBefore = await AuditCountAsync(arranged);
            var response = await client.SendAsync(Request(method, path));
            Assert.True(expected[i] == (int)response.StatusCode,
                $"{function} {method} {spec} as {roles[i]}: expected {expected[i]}, got {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
            if ((int)response.StatusCode >= 400) Assert.Equal(auditBefore, await AuditCountAsync(arranged));
            else if (method != "GET") arranged = null;
        }
    }

    public static TheoryData<string, string, string, bool, int> ForeignIds => new()
    {
        // function name, method, path|body with the OTHER organization's ids, send the other team in x-request-team-id, expected status
        { "TeamsGet", "GET", "/api/teams-api/{team}", false, 400 },
        { "TeamsRename", "PUT", "/api/teams-api/{team}|{\"name\":\"hijacked\"}", false, 400 },
        { "TeamsDomainPreferences", "PUT", "/api/teams-api/{team}/domainPreferences|{\"defaultDomain\":\"qr.a.example\",\"domains\":[\"qr.a.example\"]}", false, 400 },
        { "MembersAddOrUpdate", "PUT", "/api/teams-api/{team}/members|{\"name\":\"n\",\"email\":\"{member}\",\"role\":\"admin\"}", false, 400 },
        { "MembersBulkAdd", "POST", "/api/teams-api/members/bulk|{\"name\":\"n\",\"email\":\"spy@example.test\",\"teams\":[{\"teamId\":\"{team}\",\"role\":\"admin\"}]}", false, 400 },
        { "MembersActivate", "PUT", "/api/teams-api/{team}/members/{paused}/activate", false, 400 },
        { "MembersPause", "PUT", "/api/teams-api/{team}/members/{member}/pause", false, 400 },
        { "MembersChangeRole", "PUT", "/api/teams-api/{team}/members/{member}/changeRole|{\"role\":\"admin\"}", false, 400 },
        { "MembersRemove", "DELETE", "/api/teams-api/{team}/members/{member}", false, 400 },
        { "MembersDelete", "DELETE", "/api/teams-api/{team}/members/{member}/delete", false, 400 },
        { "MembersResendInvite", "GET", "/api/teams-api/resend/invite/{invited}", false, 400 },
        { "MembersResendInviteInTheirTeam", "GET", "/api/teams-api/resend/invite/{invited}", true, 403 },
        { "TeamsListInTheirTeam", "GET", "/api/teams-api", true, 403 },
        { "OrganizationsUpdate", "PATCH", "/v1/organizations/{org}|{\"name\":\"hijacked\"}", false, 404 },
        { "OrganizationsDelete", "DELETE", "/v1/organizations/{org}", false, 404 },
        { "WorkspacesUpdate", "PATCH", "/v1/workspaces/{team}|{\"name\":\"hijacked\"}", false, 404 },
        { "WorkspacesArchive", "DELETE", "/v1/workspaces/{team}", false, 404 },
        { "WorkspacesArchiveTheirSecond", "DELETE", "/v1/workspaces/{team2}", false, 404 },
        { "WorkspacesListInTheirTeam", "GET", "/v1/workspaces", true, 403 },
        { "AuditLogsInTheirTeam", "GET", "/v1/audit-logs", true, 403 },
        { "AuditLogsByTheirId", "GET", "/v1/audit-logs?resource_id={team}", false, 200 },
        { "AuditLogsByTheirMember", "GET", "/v1/audit-logs?resource_type=members&resource_id={member}", false, 200 },
        { "OrganizationsGet", "GET", "/v1/organizations", false, 200 },
        { "WorkspacesList", "GET", "/v1/workspaces", false, 200 },
        { "TeamsList", "GET", "/api/teams-api", false, 200 },
    };

    [Theory]
    [MemberData(nameof(ForeignIds))]
    public async Task AnotherOrganizationsIdsRevealNothingAndChangeNothing(string endpoint, string method, string spec, bool theirTeamHeader, int expected)
    {
        var mine = await service.NewTenantAsync();
        var theirs = await ArrangeAsync();
        var path = Fill(spec, theirs);
        var header = theirTeamHeader ? theirs.Tenant.TeamId : null;
        var client = path.StartsWith("/v1") ? mine.V1(teamId: header) : mine.QrApi(teamId: header);
        var auditBefore = await AuditCountAsync(theirs);
        var response = await client.SendAsync(Request(method, path));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(expected == (int)response.StatusCode, $"{endpoint}: expected {expected}, got {(int)response.StatusCode}: {text}");
        if (expected == 400 && !path.Contains("/resend/")) Assert.Contains("Team not found", text);
        foreach (var secret in new[] { theirs.Tenant.TeamId, theirs.Team2, theirs.Tenant.OrgId, theirs.TeamName, theirs.Member, theirs.Invited, theirs.Tenant.OwnerEmail })
            Assert.DoesNotContain(secret, text);
        Assert.Equal(auditBefore, await AuditCountAsync(theirs));
        var team = (await service.Storage.TeamData.GetEntityAsync<Team>(theirs.Tenant.TeamId, Team.Row)).Value;
        Assert.Equal((theirs.TeamName, false), (team.Name, team.Archived));
        Assert.False((await service.Storage.Orgs.GetEntityAsync<Organization>(theirs.Tenant.OrgId, Organization.Row)).Value.Deleted);
    }

    [Fact]
    public async Task TheRoleIsCheckedInTheTeamThePathNamesNotTheHeaderTeam()
    {
        var arranged = await ArrangeAsync();
        var tenant = arranged.Tenant;
        // Admin in the header team, viewer in the team the path names: refused.
        var adminHere = await tenant.MemberKeyAsync(Role.Admin);
        var email = (await service.Storage.ApiKeys.GetEntityAsync<ApiKey>(adminHere.KeyId, ApiKey.Row)).Value.UserEmail!;
        await AddMembershipAsync(tenant, arranged.Team2, email, "viewer", "active");
        await tenant.QrApi(adminHere).PutJsonAsync($"/api/teams-api/{arranged.Team2}", new { name = "x" }).ErrorAsync(HttpStatusCode.Forbidden, "admin");
        await tenant.QrApi(adminHere).PutJsonAsync($"/api/teams-api/{arranged.Team2}/members", new { name = "n", email = "n@example.test", role = "viewer" }).ErrorAsync(HttpStatusCode.Forbidden);
        Assert.Equal(HttpStatusCode.Forbidden, (await tenant.V1(adminHere).PatchJsonAsync($"/v1/workspaces/{arranged.Team2}", new { name = "x" })).StatusCode);
        await tenant.QrApi(adminHere).PutJsonAsync($"/api/teams-api/{tenant.TeamId}", new { name = "ok" }).DataAsync();

        // Viewer in the header team, admin in the team the path names: allowed.
        var viewerHere = await tenant.MemberKeyAsync(Role.Viewer);
        var viewerEmail = (await service.Storage.ApiKeys.GetEntityAsync<ApiKey>(viewerHere.KeyId, ApiKey.Row)).Value.UserEmail!;
        await AddMembershipAsync(tenant, arranged.Team2, viewerEmail, "admin", "active");
        var renamed = await tenant.QrApi(viewerHere).PutJsonAsync($"/api/teams-api/{arranged.Team2}", new { name = "Renamed by its admin" }).DataAsync();
        Assert.Equal("Renamed by its admin", renamed.GetProperty("name").GetString());
        // A team the key's user is no member of reads as not found.
        var outsider = await tenant.MemberKeyAsync(Role.Admin);
        await tenant.QrApi(outsider).GetAsync($"/api/teams-api/{arranged.Team2}").ErrorAsync(HttpStatusCode.BadRequest, "Team not found");
    }
}
