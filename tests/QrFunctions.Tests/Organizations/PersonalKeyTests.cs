using System.Net;
using System.Text.Json;
using QrFunctions.Auth;
using QrFunctions.Storage;
using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Organizations;

/// <summary>Members act as themselves: the key an accepted invitation hands out, the keys they manage, and what pausing, roles and deletion do to them.</summary>
public class PersonalKeyTests(TestService service) : IClassFixture<TestService>
{
    private static async Task<JsonElement> V1Async(Task<HttpResponseMessage> call, HttpStatusCode expected = HttpStatusCode.OK)
    {
        var response = await call;
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"expected {(int)expected}, got {(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement;
    }

    private static List<string> Ids(JsonElement list) => list.GetProperty("data").EnumerateArray().Select(k => k.GetProperty("id").GetString()!).ToList();

    [Fact]
    public async Task AnAcceptedInvitationHandsOutAKeyThatActsWithTheMembersRoleInEachOfTheirTeams()
    {
        var tenant = await service.NewTenantAsync();
        var second = (await V1Async(tenant.V1().PostJsonAsync("/v1/workspaces", new { name = "Second", slug = "second" }), HttpStatusCode.Created)).GetProperty("id").GetString()!;
        var (email, key) = await tenant.JoinedMemberAsync(Role.Editor);
        await tenant.QrApi(teamId: second).PutJsonAsync($"/api/teams-api/{second}/members", new { name = "Ed", email, role = "viewer" }).OkAsync();

        // Editor in the first team: may create; viewer in the second: may read, not create.
        await tenant.QrApi(key).PostJsonAsync("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://a.example/" }).DataAsync(HttpStatusCode.Created);
        await tenant.QrApi(key, second).GetAsync("/api/qrs-api/v2/teams").DataAsync();
        await tenant.QrApi(key, second).PostJsonAsync("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://a.example/" }).ErrorAsync(HttpStatusCode.Forbidden, "editor");

        // The token is single use: a second acceptance hands out nothing.
        await service.DrainQueueAsync("SendEmail");
        var again = await service.Anonymous().PostAsync($"/api/invites/{await TokenOfAsync(email)}/accept", null);
        Assert.Equal(HttpStatusCode.BadRequest, again.StatusCode);
        Assert.DoesNotContain("clientSecret", await again.Content.ReadAsStringAsync());
    }

    private async Task<string> TokenOfAsync(string email)
    {
        var mail = (await QrFunctions.Email.EmailSender.RecentAsync(service.Storage, email)).First(m => m.GetString("Text")!.Contains("/invite/"));
        return System.Text.RegularExpressions.Regex.Match(mail.GetString("Text")!, @"/invite/(\S+)").Groups[1].Value;
    }

    [Fact]
    public async Task TheInvitationPageShowsTheKeyOnceAndItWorks()
    {
        var tenant = await service.NewTenantAsync();
        var email = await tenant.InviteAsync(Role.Viewer);
        await service.DrainQueueAsync("SendEmail");

        var page = await (await service.Anonymous().PostAsync($"/invite/{await TokenOfAsync(email)}", null)).Content.ReadAsStringAsync();

        var token = System.Text.RegularExpressions.Regex.Match(page, @"qr3_sk_[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+").Value;
        Assert.NotEmpty(token);
        var client = service.Anonymous();
        client.DefaultRequestHeaders.Authorization = new("Bearer", token);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v1/organizations")).StatusCode);
    }

    [Fact]
    public async Task EveryMemberManagesTheirOwnKeysButNotOthers()
    {
        var tenant = await service.NewTenantAsync();
        var (_, viewer) = await tenant.JoinedMemberAsync(Role.Viewer);
        var (_, other) = await tenant.JoinedMemberAsync(Role.Viewer);

        var created = await V1Async(tenant.V1(viewer).PostJsonAsync("/v1/api-keys", new { name = "laptop", scope = "user" }), HttpStatusCode.Created);
        var laptop = created.GetProperty("id").GetString()!;
        await V1Async(tenant.V1(viewer).PostJsonAsync("/v1/api-keys", new { name = "workspace key" }), HttpStatusCode.Forbidden);

        var mine = Ids(await V1Async(tenant.V1(viewer).GetAsync("/v1/api-keys")));
        Assert.Equal(new[] { viewer.KeyId, laptop }.Order(), mine.Order());
        // Another member's key and the owner's key are not theirs to see or revoke.
        await V1Async(tenant.V1(viewer).DeleteAsync($"/v1/api-keys/{other.KeyId}"), HttpStatusCode.NotFound);
        await V1Async(tenant.V1(viewer).DeleteAsync($"/v1/api-keys/{tenant.OwnerKey.KeyId}"), HttpStatusCode.NotFound);
        Assert.Equal(HttpStatusCode.OK, (await tenant.V1(other).GetAsync("/v1/organizations")).StatusCode);

        await V1Async(tenant.V1(viewer).DeleteAsync($"/v1/api-keys/{laptop}"));
        var laptopKey = new IssuedKey(laptop, created.GetProperty("client_secret").GetString()!);
        Assert.Equal(HttpStatusCode.Unauthorized, (await tenant.V1(laptopKey).GetAsync("/v1/organizations")).StatusCode);
    }

    [Fact]
    public async Task AnAdminManagesTheKeysOfTheirTeamsMembersAndTheOwnerEveryKeyOfTheOrganization()
    {
        var tenant = await service.NewTenantAsync();
        var second = (await V1Async(tenant.V1().PostJsonAsync("/v1/workspaces", new { name = "Second", slug = "second" }), HttpStatusCode.Created)).GetProperty("id").GetString()!;
        var (_, admin) = await tenant.JoinedMemberAsync(Role.Admin);
        var (_, member) = await tenant.JoinedMemberAsync(Role.Viewer);
        var (_, elsewhere) = await tenant.JoinedMemberAsync(Role.Viewer, second);

        var adminSees = Ids(await V1Async(tenant.V1(admin, tenant.TeamId).GetAsync("/v1/api-keys")));
        Assert.Contains(member.KeyId, adminSees);
        Assert.Contains(tenant.OwnerKey.KeyId, adminSees); // the owner is a member of this team too
        Assert.DoesNotContain(elsewhere.KeyId, adminSees);
        await V1Async(tenant.V1(admin).DeleteAsync($"/v1/api-keys/{elsewhere.KeyId}"), HttpStatusCode.NotFound);
        await V1Async(tenant.V1(admin).DeleteAsync($"/v1/api-keys/{member.KeyId}"));
        Assert.Equal(HttpStatusCode.Unauthorized, (await tenant.V1(member).GetAsync("/v1/organizations")).StatusCode);

        var ownerSees = Ids(await V1Async(tenant.V1().GetAsync("/v1/api-keys")));
        Assert.Contains(elsewhere.KeyId, ownerSees);
        Assert.Contains(admin.KeyId, ownerSees);
        await V1Async(tenant.V1().DeleteAsync($"/v1/api-keys/{elsewhere.KeyId}"));
        Assert.Equal(HttpStatusCode.Unauthorized, (await tenant.V1(elsewhere, second).GetAsync("/v1/organizations")).StatusCode);
    }

    [Fact]
    public async Task PausingStopsAMembersKeysAtOnceActivatingRestoresThemAndARoleChangeCountsOnTheNextCall()
    {
        var tenant = await service.NewTenantAsync();
        var second = (await V1Async(tenant.V1().PostJsonAsync("/v1/workspaces", new { name = "Second", slug = "second" }), HttpStatusCode.Created)).GetProperty("id").GetString()!;
        var (email, key) = await tenant.JoinedMemberAsync(Role.Viewer);
        await tenant.QrApi(teamId: second).PutJsonAsync($"/api/teams-api/{second}/members", new { name = "m", email, role = "viewer" }).OkAsync();
        var personal = await V1Async(tenant.V1(key).PostJsonAsync("/v1/api-keys", new { name = "second key", scope = "user" }), HttpStatusCode.Created);
        var secondKey = new IssuedKey(personal.GetProperty("id").GetString()!, personal.GetProperty("client_secret").GetString()!);

        await tenant.QrApi().PutAsync($"/api/teams-api/{tenant.TeamId}/members/{email}/pause", null).OkAsync();
        foreach (var k in new[] { key, secondKey })
            await tenant.QrApi(k).GetAsync("/api/qrs-api/v2/teams").ErrorAsync(HttpStatusCode.Forbidden, "paused");

        await tenant.QrApi().PutAsync($"/api/teams-api/{tenant.TeamId}/members/{email}/activate", null).OkAsync();
        foreach (var k in new[] { key, secondKey })
            await tenant.QrApi(k).GetAsync("/api/qrs-api/v2/teams").DataAsync();

        await tenant.QrApi(key).PostJsonAsync("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://a.example/" }).ErrorAsync(HttpStatusCode.Forbidden);
        await tenant.QrApi().PutJsonAsync($"/api/teams-api/{tenant.TeamId}/members/{email}/changeRole", new { role = "editor" }).OkAsync();
        await tenant.QrApi(key).PostJsonAsync("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://a.example/" }).DataAsync(HttpStatusCode.Created);
    }

    [Fact]
    public async Task DeletingAMemberRevokesEveryKeyTheyHad()
    {
        var tenant = await service.NewTenantAsync();
        var (email, key) = await tenant.JoinedMemberAsync(Role.Editor);
        var personal = await V1Async(tenant.V1(key).PostJsonAsync("/v1/api-keys", new { name = "ci", scope = "user" }), HttpStatusCode.Created);

        await tenant.QrApi().DeleteAsync($"/api/teams-api/{tenant.TeamId}/members/{email}/delete").OkAsync();

        foreach (var id in new[] { key.KeyId, personal.GetProperty("id").GetString()! })
        {
            var stored = (await service.Storage.ApiKeys.GetEntityAsync<ApiKey>(id, ApiKey.Row)).Value;
            Assert.True(stored.Revoked, id);
        }
        Assert.Equal(HttpStatusCode.Unauthorized, (await tenant.V1(key).GetAsync("/v1/organizations")).StatusCode);
    }

    [Fact]
    public async Task AuditEntriesNameThePersonWhoActed()
    {
        var tenant = await service.NewTenantAsync();
        var (email, key) = await tenant.JoinedMemberAsync(Role.Editor);
        var qr = await tenant.QrApi(key).PostJsonAsync("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://a.example/" }).DataAsync(HttpStatusCode.Created);

        var log = await V1Async(tenant.V1().GetAsync($"/v1/audit-logs?resource_id={qr.GetProperty("id").GetString()}"));

        var created = Assert.Single(log.GetProperty("data").EnumerateArray());
        Assert.Equal("codes.created", created.GetProperty("action").GetString());
        Assert.Equal(key.KeyId, created.GetProperty("actor_id").GetString());
        Assert.Equal(email, created.GetProperty("actor_email").GetString());
        var joined = await V1Async(tenant.V1().GetAsync($"/v1/audit-logs?action=members.joined"));
        Assert.Contains(joined.GetProperty("data").EnumerateArray(), e => e.GetProperty("actor_email").GetString() == email);
    }
}
