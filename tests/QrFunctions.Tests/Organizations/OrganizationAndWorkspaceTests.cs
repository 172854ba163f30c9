using System.Net;
using System.Text.Json;
using QrFunctions.Auth;
using QrFunctions.Organizations;
using QrFunctions.Storage;
using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Organizations;

public class OrganizationAndWorkspaceTests(TestService service) : IClassFixture<TestService>
{
    private static async Task<JsonElement> V1Async(HttpResponseMessage response, HttpStatusCode expected = HttpStatusCode.OK)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"expected {(int)expected}, got {(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement;
    }

    private static async Task<string> V1ErrorAsync(HttpResponseMessage response, HttpStatusCode expected, string? contains = null)
    {
        var body = await V1Async(response, expected);
        var message = body.GetProperty("error").GetProperty("message").GetString()!;
        Assert.False(string.IsNullOrEmpty(body.GetProperty("error").GetProperty("code").GetString()));
        if (contains is not null) Assert.Contains(contains, message);
        return message;
    }

    [Fact]
    public async Task AnOperatorKeyCreatesAnOrganizationWhoseOwnerKeyWorksOnce()
    {
        var operatorKey = await OrganizationSetup.IssueOperatorKeyAsync(service.Storage, "ops");
        var ops = service.Anonymous();
        ops.DefaultRequestHeaders.Authorization = new("Bearer", operatorKey.BearerToken);
        var slug = "digital-heroes-" + Ids.Random(5);
        var created = await V1Async(await ops.PostJsonAsync("/v1/organizations", new { name = "Digital Heroes GmbH", slug, billing_email = "billing@heroes.example", owner_email = "Boss@Heroes.example" }), HttpStatusCode.Created);
        Assert.Equal(slug, created.GetProperty("organization").GetProperty("slug").GetString());
        var token = created.GetProperty("owner_key").GetProperty("token").GetString()!;

        var owner = service.Anonymous();
        owner.DefaultRequestHeaders.Authorization = new("Bearer", token);
        var org = await V1Async(await owner.GetAsync("/v1/organizations"));
        Assert.Equal("Digital Heroes GmbH", org.GetProperty("name").GetString());
        Assert.Equal("billing@heroes.example", org.GetProperty("billing_email").GetString());
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", org.GetProperty("created_at").GetString());

        await V1ErrorAsync(await ops.PostJsonAsync("/v1/organizations", new { name = "Again", slug, owner_email = "x@y.example" }), HttpStatusCode.BadRequest, "slug");
        await V1ErrorAsync(await ops.PostJsonAsync("/v1/organizations", new { name = "Bad", slug = "Bad Slug", owner_email = "x@y.example" }), HttpStatusCode.BadRequest, "slug");
        await V1ErrorAsync(await ops.PostJsonAsync("/v1/organizations", new { name = new string('n', 256), slug = "ok-" + Ids.Random(5), owner_email = "x@y.example" }), HttpStatusCode.BadRequest, "name");
        await V1ErrorAsync(await ops.GetAsync("/v1/organizations"), HttpStatusCode.Forbidden, "Operator");
        await V1ErrorAsync(await owner.PostJsonAsync("/v1/organizations", new { name = "Mine", slug = "mine-" + Ids.Random(5), owner_email = "x@y.example" }), HttpStatusCode.Forbidden, "operator");
    }

    [Fact]
    public async Task OwnersRenameAndSoftDeleteTheirOrganizationAfterWhichNothingIsReachable()
    {
        var tenant = await service.NewTenantAsync();
        var other = await service.NewTenantAsync();
        var owner = tenant.V1();
        var qr = await tenant.QrApi().PostJsonAsync("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://a.example/" }).DataAsync(HttpStatusCode.Created);

        var renamed = await V1Async(await owner.PatchJsonAsync($"/v1/organizations/{tenant.OrgId}", new { name = "Renamed GmbH", billing_email = "pay@r.example" }));
        Assert.Equal("Renamed GmbH", renamed.GetProperty("name").GetString());
        await V1ErrorAsync(await owner.PatchJsonAsync($"/v1/organizations/{other.OrgId}", new { name = "Hijack" }), HttpStatusCode.NotFound);
        await V1ErrorAsync(await owner.PatchJsonAsync($"/v1/organizations/{tenant.OrgId}", new { billing_email = "nope" }), HttpStatusCode.BadRequest, "billing_email");
        var admin = tenant.V1(await tenant.MemberKeyAsync(Role.Admin));
        await V1ErrorAsync(await admin.DeleteAsync($"/v1/organizations/{tenant.OrgId}"), HttpStatusCode.Forbidden);
        // Organization-level entries live beside the org row; owners see them merged into the audit log, admins do not.
        var ownerLog = await V1Async(await owner.GetAsync("/v1/audit-logs?resource_type=organizations"));
        Assert.Equal(["organizations.updated", "organizations.created"], ownerLog.GetProperty("data").EnumerateArray().Select(e => e.GetProperty("action").GetString()));
        var adminLog = await V1Async(await admin.GetAsync("/v1/audit-logs?resource_type=organizations"));
        Assert.Empty(adminLog.GetProperty("data").EnumerateArray());

        await V1Async(await owner.DeleteAsync($"/v1/organizations/{tenant.OrgId}"));
        await V1ErrorAsync(await owner.GetAsync("/v1/organizations"), HttpStatusCode.Unauthorized);
        await tenant.QrApi().GetAsync("/api/qrs-api/v2/teams").ErrorAsync(HttpStatusCode.Unauthorized);
        Assert.Equal(HttpStatusCode.NotFound, (await service.Anonymous().GetAsync("/" + qr.GetProperty("displayId").GetString())).StatusCode);
        var stored = (await service.Storage.Orgs.GetEntityAsync<Organization>(tenant.OrgId, Organization.Row)).Value;
        Assert.True(stored.Deleted); // kept, not erased
    }

    [Fact]
    public async Task WorkspacesAreTeamsAndCountAgainstThePlan()
    {
        // Three workspaces as on Pro, on a plan that also has the QR-code API (surface A shows the same record).
        var tenant = await service.NewTenantAsync("Business Plus", """{"requestsPerSecond":100,"burst":100,"maxWorkspaces":3}""");
        var owner = tenant.V1();
        var ws = await V1Async(await owner.PostJsonAsync("/v1/workspaces", new { name = "Kunde Bäckerei Schmidt", slug = "baeckerei-schmidt", primary_color = "#8B4513" }), HttpStatusCode.Created);
        Assert.Equal("de", ws.GetProperty("default_locale").GetString());
        Assert.False(ws.GetProperty("approval_required").GetBoolean());
        var wsId = ws.GetProperty("id").GetString()!;

        // The same record on surface A.
        var teams = await tenant.QrApi().GetAsync("/api/teams-api").DataAsync();
        Assert.Contains(teams.EnumerateArray(), t => t.GetProperty("id").GetString() == wsId && t.GetProperty("name").GetString() == "Kunde Bäckerei Schmidt");

        await V1ErrorAsync(await owner.PostJsonAsync("/v1/workspaces", new { name = "Dup", slug = "baeckerei-schmidt" }), HttpStatusCode.BadRequest, "slug");
        await V1ErrorAsync(await owner.PostJsonAsync("/v1/workspaces", new { name = "Bad", slug = "ok-slug", primary_color = "brown" }), HttpStatusCode.BadRequest, "primary_color");
        await V1ErrorAsync(await owner.PostJsonAsync("/v1/workspaces", new { slug = "no-name" }), HttpStatusCode.BadRequest, "name");
        await V1Async(await owner.PostJsonAsync("/v1/workspaces", new { name = "Third", slug = "third" }), HttpStatusCode.Created);
        await V1ErrorAsync(await owner.PostJsonAsync("/v1/workspaces", new { name = "Fourth", slug = "fourth" }), HttpStatusCode.Forbidden, "at most 3 workspaces");

        var patched = await V1Async(await owner.PatchJsonAsync($"/v1/workspaces/{wsId}", new { name = "Neuer Name", approval_required = true, custom_domain = "qr.baeckerei-schmidt.de" }));
        Assert.True(patched.GetProperty("approval_required").GetBoolean());
        Assert.Equal("qr.baeckerei-schmidt.de", patched.GetProperty("custom_domain").GetString());
        var list = await V1Async(await owner.GetAsync("/v1/workspaces"));
        Assert.Equal(3, list.GetProperty("data").GetArrayLength());
        Assert.Equal(JsonValueKind.Null, list.GetProperty("next_cursor").ValueKind);

        await V1ErrorAsync(await owner.DeleteAsync($"/v1/workspaces/{tenant.TeamId}"), HttpStatusCode.BadRequest, "own workspace");
        var archived = await V1Async(await owner.DeleteAsync($"/v1/workspaces/{wsId}"));
        Assert.True(archived.GetProperty("archived").GetBoolean());
        await tenant.QrApi(teamId: wsId).GetAsync("/api/qrs-api/v2/teams").ErrorAsync(HttpStatusCode.Forbidden, "archived");
    }

    [Fact]
    public async Task AnotherOrganizationsWorkspacesAreNotFound()
    {
        var a = await service.NewTenantAsync();
        var b = await service.NewTenantAsync();
        await V1ErrorAsync(await a.V1().PatchJsonAsync($"/v1/workspaces/{b.TeamId}", new { name = "x" }), HttpStatusCode.NotFound);
        await V1ErrorAsync(await a.V1().DeleteAsync($"/v1/workspaces/{b.TeamId}"), HttpStatusCode.NotFound);
        await V1ErrorAsync(await a.V1().DeleteAsync($"/v1/organizations/{b.OrgId}"), HttpStatusCode.NotFound);
        var list = await V1Async(await a.V1().GetAsync("/v1/workspaces"));
        Assert.DoesNotContain(list.GetProperty("data").EnumerateArray(), w => w.GetProperty("id").GetString() == b.TeamId);
        await a.QrApi().GetAsync($"/api/teams-api/{b.TeamId}").ErrorAsync(HttpStatusCode.BadRequest, "Team not found");
        var audit = await V1Async(await a.V1().GetAsync($"/v1/audit-logs?resource_id={b.TeamId}"));
        Assert.Empty(audit.GetProperty("data").EnumerateArray());
    }
    private async Task<HttpClient> OperatorAsync()
    {
        var operatorKey = await OrganizationSetup.IssueOperatorKeyAsync(service.Storage, "ops");
        var ops = service.Anonymous();
        ops.DefaultRequestHeaders.Authorization = new("Bearer", operatorKey.BearerToken);
        return ops;
    }

    [Fact]
    public async Task CreatingAnOrganizationValidatesEveryFieldAndDefaultsThePlan()
    {
        var ops = await OperatorAsync();
        string Slug() => "o-" + Ids.Random(8).ToLowerInvariant().Replace('_', 'x');
        await V1ErrorAsync(await ops.PostJsonAsync("/v1/organizations", new { name = "N", slug = Slug() }), HttpStatusCode.BadRequest, "owner_email");
        await V1ErrorAsync(await ops.PostJsonAsync("/v1/organizations", new { name = "N", slug = Slug(), owner_email = "nope" }), HttpStatusCode.BadRequest, "owner_email");
        await V1ErrorAsync(await ops.PostJsonAsync("/v1/organizations", new { name = "N", slug = Slug(), owner_email = "o@example.test", plan = "Platinum" }), HttpStatusCode.BadRequest, "plan");
        await V1ErrorAsync(await ops.PostJsonAsync("/v1/organizations", new { name = "N", slug = "x", owner_email = "o@example.test" }), HttpStatusCode.BadRequest, "slug");
        await V1ErrorAsync(await ops.PostJsonAsync("/v1/organizations", new { name = "N", slug = new string('a', 64), owner_email = "o@example.test" }), HttpStatusCode.BadRequest, "slug");
        await V1ErrorAsync(await ops.PostJsonAsync("/v1/organizations", new { slug = Slug(), owner_email = "o@example.test" }), HttpStatusCode.BadRequest, "name");
        await V1ErrorAsync(await ops.PostJsonAsync("/v1/organizations", new { name = "N", slug = Slug(), owner_email = "o@example.test", billing_email = "x" }), HttpStatusCode.BadRequest, "billing_email");

        var created = await V1Async(await ops.PostJsonAsync("/v1/organizations", new { name = new string('n', 255), slug = Slug(), owner_email = "o@example.test", owner_name = "O" }), HttpStatusCode.Created);
        Assert.Equal("Business Plus", created.GetProperty("organization").GetProperty("plan").GetString());
        Assert.StartsWith("qr3_sk_", created.GetProperty("owner_key").GetProperty("token").GetString());
        Assert.False(string.IsNullOrEmpty(created.GetProperty("owner_key").GetProperty("client_secret").GetString()));
        // The secret is shown once: only its hash is stored.
        var keyId = created.GetProperty("owner_key").GetProperty("client_id").GetString()!;
        var stored = (await service.Storage.ApiKeys.GetEntityAsync<ApiKey>(keyId, ApiKey.Row)).Value;
        Assert.NotEqual(created.GetProperty("owner_key").GetProperty("client_secret").GetString(), stored.SecretHash);
    }

    [Fact]
    public async Task ChangingTheSlugKeepsItUniqueAndReleasesTheOldOne()
    {
        var a = await service.NewTenantAsync();
        var b = await service.NewTenantAsync();
        var slugOf = async (Tenant t) => (await service.Storage.Orgs.GetEntityAsync<Organization>(t.OrgId, Organization.Row)).Value.Slug;
        var oldSlug = await slugOf(a);
        await V1ErrorAsync(await a.V1().PatchJsonAsync($"/v1/organizations/{a.OrgId}", new { slug = await slugOf(b) }), HttpStatusCode.BadRequest, "taken");
        await V1ErrorAsync(await a.V1().PatchJsonAsync($"/v1/organizations/{a.OrgId}", new { slug = "Not Valid" }), HttpStatusCode.BadRequest, "slug");
        await V1ErrorAsync(await a.V1().PatchJsonAsync($"/v1/organizations/{a.OrgId}", new { name = " " }), HttpStatusCode.BadRequest, "name");
        Assert.Equal(oldSlug, await slugOf(a));

        var newSlug = "renamed-" + Ids.Random(6).ToLowerInvariant().Replace('_', 'x');
        var org = await V1Async(await a.V1().PatchJsonAsync($"/v1/organizations/{a.OrgId}", new { slug = newSlug }));
        Assert.Equal(newSlug, org.GetProperty("slug").GetString());
        var ops = await OperatorAsync();
        await V1Async(await ops.PostJsonAsync("/v1/organizations", new { name = "Takes the old slug", slug = oldSlug, owner_email = "o@example.test" }), HttpStatusCode.Created);
        await V1ErrorAsync(await ops.PostJsonAsync("/v1/organizations", new { name = "Wants the new slug", slug = newSlug, owner_email = "o@example.test" }), HttpStatusCode.BadRequest, "taken");
        var entry = (await V1Async(await a.V1().GetAsync("/v1/audit-logs?action=organizations.updated"))).GetProperty("data")[0];
        Assert.Equal((oldSlug, newSlug), (entry.GetProperty("changes").GetProperty("slug").GetProperty("before").GetString(), entry.GetProperty("changes").GetProperty("slug").GetProperty("after").GetString()));
    }

    [Fact]
    public async Task WorkspaceChangesAreValidatedAndArchivedWorkspacesAreClosed()
    {
        var tenant = await service.NewTenantAsync();
        var owner = tenant.V1();
        var ws = (await V1Async(await owner.PostJsonAsync("/v1/workspaces", new { name = "Kunde", slug = "kunde", custom_domain = "qr.kunde.example", default_locale = "en-GB", approval_required = true }), HttpStatusCode.Created)).GetProperty("id").GetString()!;
        await V1ErrorAsync(await owner.PostJsonAsync("/v1/workspaces", new { name = "N", slug = "Kunde Zwei" }), HttpStatusCode.BadRequest, "slug");
        await V1ErrorAsync(await owner.PostJsonAsync("/v1/workspaces", new { name = "N" }), HttpStatusCode.BadRequest, "slug");
        await V1ErrorAsync(await owner.PostJsonAsync("/v1/workspaces", new { name = "N", slug = "n-1", approval_required = "yes" }), HttpStatusCode.BadRequest, "approval_required");
        var url = $"/v1/workspaces/{ws}";
        await V1ErrorAsync(await owner.PatchJsonAsync(url, new { primary_color = "#GGGGGG" }), HttpStatusCode.BadRequest, "primary_color");
        await V1ErrorAsync(await owner.PatchJsonAsync(url, new { default_locale = "german!" }), HttpStatusCode.BadRequest, "default_locale");
        await V1ErrorAsync(await owner.PatchJsonAsync(url, new { custom_domain = "https://qr.kunde.example/" }), HttpStatusCode.BadRequest, "custom_domain");
        await V1ErrorAsync(await owner.PatchJsonAsync(url, new { name = (string?)null }), HttpStatusCode.BadRequest, "name");
        await V1ErrorAsync(await owner.PatchJsonAsync($"/v1/workspaces/ws_unknown", new { name = "x" }), HttpStatusCode.NotFound);

        var cleared = await V1Async(await owner.PatchJsonAsync(url, new { custom_domain = (string?)null, primary_color = "#00ff00" }));
        Assert.Equal(JsonValueKind.Null, cleared.GetProperty("custom_domain").ValueKind);
        Assert.Equal(("#00ff00", "en-GB", true, "Kunde"), (cleared.GetProperty("primary_color").GetString(), cleared.GetProperty("default_locale").GetString(),
            cleared.GetProperty("approval_required").GetBoolean(), cleared.GetProperty("name").GetString()));

        // The key's own workspace (its home, or the one the request names) cannot be archived.
        await V1ErrorAsync(await tenant.V1(teamId: ws).DeleteAsync(url), HttpStatusCode.BadRequest, "own workspace");
        await V1Async(await owner.DeleteAsync(url));
        await V1ErrorAsync(await owner.DeleteAsync(url), HttpStatusCode.NotFound);
        await V1ErrorAsync(await owner.PatchJsonAsync(url, new { name = "x" }), HttpStatusCode.Forbidden, "archived");
        var entries = (await service.Storage.TeamData.QueryAsync<QrFunctions.AuditLogs.AuditEntry>(TableQueries.PrefixFilter(ws, QrFunctions.AuditLogs.AuditEntry.RowPrefix)).ToListAsync()).Select(e => e.Action);
        Assert.Equal(["workspaces.archived", "workspaces.updated", "workspaces.created"], entries);
    }
}
