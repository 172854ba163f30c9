using System.Net;
using System.Text.Json;
using QrFunctions.Auth;
using QrFunctions.Organizations;
using QrFunctions.Storage;
using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Organizations;

/// <summary>Where the seeds are silent, statuses and shapes follow the one public client (QRTRAC's OpenAPI document) and seed 002.</summary>
public class PublicClientShapeTests(TestService service) : IClassFixture<TestService>
{
    [Fact]
    public async Task TheTeamsListCarriesEachTeamsMembers()
    {
        var tenant = await service.NewTenantAsync();
        var (email, _) = await tenant.JoinedMemberAsync(Role.Editor);

        var teams = await tenant.QrApi().GetAsync("/api/teams-api").DataAsync();

        var members = Assert.Single(teams.EnumerateArray()).GetProperty("members").EnumerateArray()
            .ToDictionary(m => m.GetProperty("email").GetString()!, m => m.GetProperty("role").GetString());
        Assert.Equal("owner", members[tenant.OwnerEmail]);
        Assert.Equal("editor", members[email]);
    }

    [Fact]
    public async Task AddingSomeoneWhoBelongsToAnotherOrganizationIsRefused()
    {
        var theirs = await service.NewTenantAsync();
        var (email, _) = await theirs.JoinedMemberAsync(Role.Viewer);
        var mine = await service.NewTenantAsync();

        await mine.QrApi().PutJsonAsync($"/api/teams-api/{mine.TeamId}/members", new { name = "x", email, role = "viewer" })
            .ErrorAsync(HttpStatusCode.BadRequest, "user from different org");
        await mine.QrApi().PostJsonAsync("/api/teams-api/members/bulk", new { name = "x", email = theirs.OwnerEmail, teams = new[] { new { teamId = mine.TeamId, role = "viewer" } } })
            .ErrorAsync(HttpStatusCode.BadRequest, "user from different org");
        var team = await mine.QrApi().GetAsync($"/api/teams-api/{mine.TeamId}").DataAsync();
        Assert.DoesNotContain(team.GetProperty("members").EnumerateArray(), m => m.GetProperty("email").GetString() == email);
    }

    [Fact]
    public async Task TwoOrganizationsMayInviteOnePersonAndTheFirstAcceptanceDecides()
    {
        var a = await service.NewTenantAsync();
        var b = await service.NewTenantAsync();
        var email = await a.InviteAsync(Role.Viewer);
        await b.InviteAsync(Role.Viewer, email: email);
        await service.DrainQueueAsync("SendEmail");
        var tokens = (await QrFunctions.Email.EmailSender.RecentAsync(service.Storage, email))
            .Select(m => System.Text.RegularExpressions.Regex.Match(m.GetString("Text") ?? "", @"/invite/(\S+)").Groups[1].Value).ToList();
        string TokenOf(Tenant tenant) => tokens.Single(t => t.StartsWith(tenant.TeamId + ".", StringComparison.Ordinal));

        await service.Anonymous().PostAsync($"/api/invites/{TokenOf(a)}/accept", null).DataAsync();

        await service.Anonymous().PostAsync($"/api/invites/{TokenOf(b)}/accept", null).ErrorAsync(HttpStatusCode.BadRequest, "user from different org");
    }

    [Fact]
    public async Task AnOrganizationIsCreatedFromSeed002sBodyPlusItsFirstOwner()
    {
        var operatorKey = await OrganizationSetup.IssueOperatorKeyAsync(service.Storage, "ops");
        var ops = service.Anonymous();
        ops.DefaultRequestHeaders.Authorization = new("Bearer", operatorKey.BearerToken);
        var slug = "digital-heroes-" + Ids.Random(5).ToLowerInvariant().Replace('_', 'x');
        var seedBody = new { name = "Digital Heroes GmbH", slug, billing_email = "billing@heroes.example" };

        var refused = await ops.PostJsonAsync("/v1/organizations", seedBody);
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("owner_email is required", (await refused.BodyAsync()).GetProperty("error").GetProperty("message").GetString());

        var created = await ops.PostJsonAsync("/v1/organizations", new { seedBody.name, seedBody.slug, seedBody.billing_email, owner_email = "owner@heroes.example" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var body = await created.BodyAsync();
        Assert.Equal("billing@heroes.example", body.GetProperty("organization").GetProperty("billing_email").GetString());
        var owner = service.Anonymous();
        owner.DefaultRequestHeaders.Authorization = new("Bearer", body.GetProperty("owner_key").GetProperty("token").GetString());
        var org = JsonDocument.Parse(await owner.GetStringAsync("/v1/organizations")).RootElement;
        Assert.Equal("billing@heroes.example", org.GetProperty("billing_email").GetString());
    }

    [Fact]
    public async Task AnArchivedWorkspacesOwnAuditLogStaysReadableByTheOwnerOnly()
    {
        var tenant = await service.NewTenantAsync();
        var created = await (await tenant.V1().PostJsonAsync("/v1/workspaces", new { name = "Client B", slug = "client-b" })).BodyAsync();
        var archivedId = created.GetProperty("id").GetString()!;
        var (_, admin) = await tenant.JoinedMemberAsync(Role.Admin, archivedId);
        Assert.Equal(HttpStatusCode.OK, (await tenant.V1().DeleteAsync($"/v1/workspaces/{archivedId}")).StatusCode);

        var log = await tenant.V1(teamId: archivedId).GetAsync("/v1/audit-logs");

        Assert.Equal(HttpStatusCode.OK, log.StatusCode);
        var actions = (await log.BodyAsync()).GetProperty("data").EnumerateArray().Select(e => e.GetProperty("action").GetString()).ToList();
        Assert.Equal("workspaces.archived", actions.First());
        Assert.Contains("workspaces.created", actions);
        // Its admin, and the owner on anything else of the archived workspace, are refused as before.
        Assert.Equal(HttpStatusCode.Forbidden, (await tenant.V1(admin, archivedId).GetAsync("/v1/audit-logs")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await tenant.QrApi(teamId: archivedId).GetAsync("/api/qrs-api/v2/teams")).StatusCode);
    }
}
