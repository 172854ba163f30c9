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
    private sealed record Arranged(Tenant Tenant, string Team2, string TeamName, string Member, string Paused, string Invited);

    private async Task AddMembershipAsync(Tenant tenant, string teamId, string email, string role, string status)
    {
        var now = Clock.NowMs();
        await service.Storage.TeamData.AddEntityAsync(new Membership
        {
            PartitionKey = teamId, RowKey = Membership.RowOf(email), Name = email, Role = role, Status = status, CreatedAt = now, UpdatedAt = now,
        });
        await service.Storage.Users.UpsertEntityAsync(new UserTeam { PartitionKey = email, RowKey = UserTeam.RowPrefix + teamId, OrgId = tenant.OrgId });
    }

    private async Task<Arranged> ArrangeAsync()
    {
        var tenant = await service.NewTenantAsync();
        var org = (await service.Storage.Orgs.GetEntityAsync<Organization>(tenant.OrgId, Organization.Row)).Value;
        var team2 = await TeamCreation.CreateAsync(service.Storage, org, new TeamDraft("Second " + Ids.Random(6), null), new PlanLimits { MaxWorkspaces = null }, "test");
        var teamName = "Private team " + Ids.Random(8);
        await tenant.QrApi().PutJsonAsync($"/api/teams-api/{tenant.TeamId}", new { name = teamName }).DataAsync();
        var member = $"m-{Ids.Random(6)}@example.test".ToLowerInvariant();
        var paused = $"p-{Ids.Random(6)}@example.test".ToLowerInvariant();
        var invited = $"i-{Ids.Random(6)}@example.test".ToLowerInvariant();
        await AddMembershipAsync(tenant, tenant.TeamId, member, "viewer", "active");
        await AddMembershipAsync(tenant, team2.Id, member, "viewer", "active");
        await AddMembershipAsync(tenant, tenant.TeamId, paused, "viewer", "paused");
        await AddMembershipAsync(tenant, team2.Id, paused, "viewer", "active");
        await AddMembershipAsync(tenant, tenant.TeamId, invited, "viewer", "invited");
        return new Arranged(tenant, team2.Id, teamName, member, paused, invited);
    }

    private static string Fill(string spec, Arranged a) => spec
        .Replace("{team}", a.Tenant.TeamId).Replace("{team2}", a.Team2).Replace("{org}", a.Tenant.OrgId)
        .Replace("{member}", a.Member).Replace("{paused}", a.Paused).Replace("{invited}", a.Invited);

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
        if (parts.Length == 2) request.Content = ApiCalls.Json(parts[1]);
        return request;
    }

    public static TheoryData<string, string, string, int[]> RoleMatrix => new()
    {
        // function name, method, path|body, expected status for viewer, editor, admin, owner
        { "TeamsList", "GET", "/api/teams-api", [200, 200, 200, 200] },
        { "TeamsCreate", "POST", "/api/teams-api|{\"name\":\"t\"}", [403, 403, 200, 200] },
        { "TeamsGet", "GET", "/api/teams-api/{team}", [200, 200, 200, 200] },
        { "TeamsRename", "PUT", "/api/teams-api/{team}|{\"name\":\"n\"}", [403, 403, 200, 200] },
        { "TeamsDomainPreferences", "PUT", "/api/teams-api/{team}/domainPreferences|{\"defaultDomain\":\"qr.a.example\",\"domains\":[\"qr.a.example\"]}", [403, 403, 200, 200] },
        { "MembersAddOrUpdate", "PUT", "/api/teams-api/{team}/members|{\"name\":\"n\",\"email\":\"new@example.test\",\"role\":\"viewer\"}", [403, 403, 200, 200] },
        { "MembersBulkAdd", "POST", "/api/teams-api/members/bulk|{\"name\":\"n\",\"email\":\"bulk@example.test\",\"teams\":[{\"teamId\":\"{team}\",\"role\":\"viewer\"}]}", [403, 403, 200, 200] },
        { "MembersActivate", "PUT", "/api/teams-api/{team}/members/{paused}/activate", [403, 403, 200, 200] },
        { "MembersPause", "PUT", "/api/teams-api/{team}/members/{member}/pause", [403, 403, 200, 200] },
        { "MembersChangeRole", "PUT", "/api/teams-api/{team}/members/{member}/changeRole|{\"role\":\"editor\"}", [403, 403, 200, 200] },
        { "MembersRemove", "DELETE", "/api/teams-api/{team}/members/{member}", [403, 403, 200, 200] },
        { "MembersDelete", "DELETE", "/api/teams-api/{team}/members/{member}/delete", [403, 403, 403, 200] },
        { "MembersResendInvite", "GET", "/api/teams-api/resend/invite/{invited}", [403, 403, 200, 200] },
        { "OrganizationsGet", "GET", "/v1/organizations", [200, 200, 200, 200] },
        { "OrganizationsCreate", "POST", "/v1/organizations|{\"name\":\"n\",\"slug\":\"never-made\",\"owner_email\":\"o@example.test\"}", [403, 403, 403, 403] },
        { "OrganizationsUpdate", "PATCH", "/v1/organizations/{org}|{\"name\":\"n\"}", [403, 403, 403, 200] },
        { "OrganizationsDelete", "DELETE", "/v1/organizations/{org}", [403, 403, 403, 200] },
        { "WorkspacesList", "GET", "/v1/workspaces", [200, 200, 200, 200] },
        { "WorkspacesCreate", "POST", "/v1/workspaces|{\"name\":\"w\",\"slug\":\"w-slug\"}", [403, 403, 403, 201] },
        { "WorkspacesUpdate", "PATCH", "/v1/workspaces/{team}|{\"name\":\"w\"}", [403, 403, 200, 200] },
        { "WorkspacesArchive", "DELETE", "/v1/workspaces/{team2}", [403, 403, 403, 200] },
        { "AuditLogsList", "GET", "/v1/audit-logs", [200, 200, 200, 200] },
        { "QrsCreate", "POST", "/api/qrs-api|{\"qrType\":\"WEB\",\"qrRedirectUrl\":\"https://a.example/\"}", [403, 201, 201, 201] },
        { "QrsList", "GET", "/api/qrs-api/v2/teams", [200, 200, 200, 200] },
        { "AnalyticsOverviews", "POST", "/api/analytics-api/overviews|{\"qrIds\":[]}", [200, 200, 200, 200] },
    };

    [Theory]
    [MemberData(nameof(RoleMatrix))]
    public async Task EachRoleGetsWhatTheContractsRoleTableSays(string endpoint, string method, string spec, int[] expected)
    {
        var roles = new[] { Role.Viewer, Role.Editor, Role.Admin, Role.Owner };
        for (var i = 0; i < roles.Length; i++)
        {
            var arranged = await ArrangeAsync();
            var tenant = arranged.Tenant;
            var key = roles[i] == Role.Owner ? tenant.OwnerKey : await tenant.MemberKeyAsync(roles[i]);
            var path = Fill(spec, arranged);
            var client = path.StartsWith("/v1") ? tenant.V1(key) : tenant.QrApi(key);
            var auditBefore = await AuditCountAsync(arranged);
            var response = await client.SendAsync(Request(method, path));
            Assert.True(expected[i] == (int)response.StatusCode,
                $"{endpoint} as {roles[i]}: expected {expected[i]}, got {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
            if ((int)response.StatusCode >= 400) Assert.Equal(auditBefore, await AuditCountAsync(arranged));
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
