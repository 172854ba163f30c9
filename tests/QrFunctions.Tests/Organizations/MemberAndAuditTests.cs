using System.Net;
using System.Text.Json;
using Azure.Data.Tables;
using QrFunctions.Auth;
using QrFunctions.Email;
using QrFunctions.Hosting;
using QrFunctions.Storage;
using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Organizations;

public class MemberAndAuditTests(TestService service) : IClassFixture<TestService>
{
    private async Task<List<TableEntity>> DeliverMailAsync(string email)
    {
        await service.DrainQueueAsync("SendEmail");
        return await EmailSender.RecentAsync(service.Storage, email);
    }

    [Fact]
    public async Task ANewMemberIsInvitedByMailAndTheLinkWorksOnce()
    {
        var tenant = await service.NewTenantAsync();
        var email = $"sarah-{Ids.Random(5)}@acmecorp.example";
        await tenant.QrApi().PutJsonAsync($"/api/teams-api/{tenant.TeamId}/members", new { name = "Sarah Johnson", email, role = "editor" }).OkAsync();
        var team = await tenant.QrApi().GetAsync($"/api/teams-api/{tenant.TeamId}").DataAsync();
        var sarah = team.GetProperty("members").EnumerateArray().Single(m => m.GetProperty("email").GetString() == email);
        Assert.Equal(("editor", "invited"), (sarah.GetProperty("role").GetString(), sarah.GetProperty("status").GetString()));

        var mail = Assert.Single(await DeliverMailAsync(email));
        var text = mail.GetString("Text");
        var token = System.Text.RegularExpressions.Regex.Match(text, @"/invite/(\S+)").Groups[1].Value;
        Assert.StartsWith(tenant.TeamId + ".", token);

        await service.Anonymous().PostAsync($"/api/invites/{token}/accept", null).OkAsync();
        var after = await tenant.QrApi().GetAsync($"/api/teams-api/{tenant.TeamId}").DataAsync();
        Assert.Equal("active", after.GetProperty("members").EnumerateArray().Single(m => m.GetProperty("email").GetString() == email).GetProperty("status").GetString());
        await service.Anonymous().PostAsync($"/api/invites/{token}/accept", null).ErrorAsync(HttpStatusCode.BadRequest, "used");
        await service.Anonymous().PostAsync($"/api/invites/{tenant.TeamId}.forged/accept", null).ErrorAsync(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task ResendingAnInvitationIsLimited()
    {
        var tenant = await service.NewTenantAsync();
        var email = $"late-{Ids.Random(5)}@example.test";
        await tenant.QrApi().PutJsonAsync($"/api/teams-api/{tenant.TeamId}/members", new { name = "Late", email, role = "viewer" }).OkAsync();
        for (var i = 1; i < 5; i++) await tenant.QrApi().GetAsync($"/api/teams-api/resend/invite/{email}").OkAsync();
        await tenant.QrApi().GetAsync($"/api/teams-api/resend/invite/{email}").ErrorAsync(HttpStatusCode.BadRequest, "limit");
        await tenant.QrApi().GetAsync("/api/teams-api/resend/invite/nobody@example.test").ErrorAsync(HttpStatusCode.BadRequest);
        Assert.Equal(5, (await DeliverMailAsync(email)).Count);
    }

    [Fact]
    public async Task APausedMembersKeyStopsAtOnceAndWorksAgainAfterActivation()
    {
        var tenant = await service.NewTenantAsync();
        var second = (await tenant.QrApi().PostJsonAsync("/api/teams-api", new { name = "Second team" }).DataAsync()).GetProperty("id").GetString()!;
        var key = await tenant.MemberKeyAsync(Role.Editor);
        var email = (await service.Storage.ApiKeys.GetEntityAsync<ApiKey>(key.KeyId, ApiKey.Row)).Value.UserEmail!;
        var owner = tenant.QrApi();

        // Only team: pausing would leave no active team.
        await owner.PutAsync($"/api/teams-api/{tenant.TeamId}/members/{email}/pause", null).ErrorAsync(HttpStatusCode.BadRequest, "active team");
        // Already active in this organization, so active in the second team at once (no invitation to accept).
        await owner.PutJsonAsync($"/api/teams-api/{second}/members", new { name = "Ed", email, role = "viewer" }).OkAsync();

        await owner.PutAsync($"/api/teams-api/{tenant.TeamId}/members/{email}/pause", null).OkAsync();
        await tenant.QrApi(key).GetAsync("/api/qrs-api/v2/teams").ErrorAsync(HttpStatusCode.Forbidden, "paused");
        await owner.PutAsync($"/api/teams-api/{tenant.TeamId}/members/{email}/activate", null).OkAsync();
        await tenant.QrApi(key).GetAsync("/api/qrs-api/v2/teams").DataAsync();

        await owner.PutJsonAsync($"/api/teams-api/{tenant.TeamId}/members/{email}/changeRole", new { role = "viewer" }).OkAsync();
        await tenant.QrApi(key).PostJsonAsync("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://a.example/" }).ErrorAsync(HttpStatusCode.Forbidden);
        await owner.PutJsonAsync($"/api/teams-api/{tenant.TeamId}/members/{email}/changeRole", new { role = "owner" }).ErrorAsync(HttpStatusCode.BadRequest, "role");
        await owner.PutJsonAsync($"/api/teams-api/{tenant.TeamId}/members/{tenant.OwnerEmail}/changeRole", new { role = "viewer" }).ErrorAsync(HttpStatusCode.BadRequest, "owner");
        await owner.DeleteAsync($"/api/teams-api/{tenant.TeamId}/members/{tenant.OwnerEmail}").ErrorAsync(HttpStatusCode.BadRequest, "owner");

        await owner.DeleteAsync($"/api/teams-api/{second}/members/{email}").OkAsync();
        await owner.DeleteAsync($"/api/teams-api/{tenant.TeamId}/members/{email}").ErrorAsync(HttpStatusCode.BadRequest, "last team");

        var admin = tenant.QrApi(await tenant.MemberKeyAsync(Role.Admin));
        await admin.DeleteAsync($"/api/teams-api/{tenant.TeamId}/members/{email}/delete").ErrorAsync(HttpStatusCode.Forbidden);
        var deleted = await (await owner.DeleteAsync($"/api/teams-api/{tenant.TeamId}/members/{email}/delete")).BodyAsync();
        Assert.Equal("Member deleted successfully", deleted.GetProperty("message").GetString());
        await tenant.QrApi(key).GetAsync("/api/qrs-api/v2/teams").ErrorAsync(HttpStatusCode.Unauthorized);
        await owner.DeleteAsync($"/api/teams-api/{tenant.TeamId}/members/{tenant.OwnerEmail}/delete").ErrorAsync(HttpStatusCode.BadRequest, "owner");
    }

    [Fact]
    public async Task AuditPagesStayStableWhileNewEntriesArrive()
    {
        var tenant = await service.NewTenantAsync();
        // 250 entries written directly in batches of 100, as real changes write them.
        var writes = Enumerable.Range(0, 250).Select(i =>
            new TableTransactionAction(TableTransactionActionType.Add, QrFunctions.AuditLogs.AuditEntry.For(tenant.TeamId, "api", "key_test", i % 2 == 0 ? "codes.updated" : "codes.created", "codes", $"qr_{i:D3}", null))).ToList();
        foreach (var chunk in writes.Chunk(100)) await service.Storage.TeamData.SubmitTransactionAsync(chunk);

        var v1 = tenant.V1();
        var seen = new List<string>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var body = await (await v1.GetAsync("/v1/audit-logs?limit=40&resource_type=codes" + (cursor is null ? "" : "&cursor=" + cursor))).BodyAsync();
            seen.AddRange(body.GetProperty("data").EnumerateArray().Select(e => e.GetProperty("id").GetString()!));
            cursor = body.GetProperty("next_cursor").ValueKind == JsonValueKind.Null ? null : body.GetProperty("next_cursor").GetString();
            // A change lands between pages: it is newer than the cursor, so it must not appear in later pages.
            await tenant.QrApi().PostJsonAsync("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://a.example/" });
            pages++;
        } while (cursor is not null);
        Assert.Equal(7, pages);
        Assert.Equal(250, seen.Count);
        Assert.Equal(250, seen.Distinct().Count());

        var created = await (await v1.GetAsync("/v1/audit-logs?action=codes.created&limit=100")).BodyAsync();
        Assert.All(created.GetProperty("data").EnumerateArray(), e => Assert.Equal("codes.created", e.GetProperty("action").GetString()));
        var one = await (await v1.GetAsync("/v1/audit-logs?resource_id=qr_007")).BodyAsync();
        var entry = Assert.Single(one.GetProperty("data").EnumerateArray());
        Assert.StartsWith("aud_", entry.GetProperty("id").GetString());
        Assert.Equal("api", entry.GetProperty("actor_type").GetString());
        Assert.Equal(HttpStatusCode.BadRequest, (await v1.GetAsync("/v1/audit-logs?limit=101")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await v1.GetAsync("/v1/audit-logs?limit=0")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await v1.GetAsync("/v1/audit-logs?cursor=%%%")).StatusCode);
    }

    [Fact]
    public async Task EveryKindOfChangeLeavesItsAuditEntryWithoutSecrets()
    {
        var tenant = await service.NewTenantAsync();
        var owner = tenant.QrApi();
        await owner.PutJsonAsync($"/api/teams-api/{tenant.TeamId}", new { name = "Renamed" }).DataAsync();
        await owner.PutJsonAsync($"/api/teams-api/{tenant.TeamId}/members", new { name = "M", email = "m@example.test", role = "viewer" }).OkAsync();
        await owner.PutJsonAsync($"/api/teams-api/{tenant.TeamId}/members/m@example.test/changeRole", new { role = "editor" }).OkAsync();
        var qr = await owner.PostJsonAsync("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://a.example/", settings = new { passwordEnabled = true, password = "hunter2" } }).DataAsync(HttpStatusCode.Created);
        await owner.DeleteAsync($"/api/qrs-api/{qr.GetProperty("id").GetString()}");
        await tenant.V1().PatchJsonAsync($"/v1/workspaces/{tenant.TeamId}", new { approval_required = true });

        var body = await (await tenant.V1().GetAsync("/v1/audit-logs?limit=100")).BodyAsync();
        var actions = body.GetProperty("data").EnumerateArray().Select(e => e.GetProperty("action").GetString()).ToList();
        foreach (var action in new[] { "workspaces.created", "workspaces.updated", "members.added", "members.role_changed", "codes.created", "codes.deleted" })
            Assert.Contains(action, actions);
        Assert.Equal(2, actions.Count(a => a == "workspaces.updated"));
        Assert.DoesNotContain("hunter2", body.GetRawText());
        Assert.DoesNotContain(tenant.OwnerKey.Secret, body.GetRawText());
        var renamed = body.GetProperty("data").EnumerateArray().Last(e => e.GetProperty("action").GetString() == "workspaces.updated");
        Assert.Equal("Renamed", renamed.GetProperty("changes").GetProperty("name").GetProperty("after").GetString());
    }
}

public class DevOutboxTestService : TestService
{
    protected override IEnumerable<string> Settings => ["--QrFunctions:DevEndpoints=true"];
}

public class TheDevOutboxListsRecordedMail(DevOutboxTestService service) : IClassFixture<DevOutboxTestService>
{
    [Fact]
    public async Task AnInvitationShowsUpInTheDevelopmentListing()
    {
        var tenant = await service.NewTenantAsync();
        var email = $"dev-{Ids.Random(5)}@example.test";
        await tenant.QrApi().PutJsonAsync($"/api/teams-api/{tenant.TeamId}/members", new { name = "Dev", email, role = "viewer" }).OkAsync();
        await service.DrainQueueAsync("SendEmail");
        var mails = await tenant.QrApi().GetAsync($"/api/dev/outbox?email={email}").DataAsync();
        var mail = Assert.Single(mails.EnumerateArray());
        Assert.Contains("/invite/", mail.GetProperty("text").GetString());
    }

    [Fact]
    public async Task TheListingShowsOnlyMailTheCallersOrganizationSent()
    {
        var a = await service.NewTenantAsync();
        var b = await service.NewTenantAsync();
        var email = $"shared-{Ids.Random(5)}@example.test";
        await a.QrApi().PutJsonAsync($"/api/teams-api/{a.TeamId}/members", new { name = "Shared", email, role = "viewer" }).OkAsync();
        await service.DrainQueueAsync("SendEmail");
        // A mail recorded before mails carried their organization: listed to no one.
        await service.Storage.Table(service.Storage.Names.Outbox).AddEntityAsync(new TableEntity(email, $"{long.MaxValue - DateTime.UtcNow.Ticks:D19}|mail_old")
            { ["Subject"] = "old", ["Text"] = $"http://x/invite/{a.TeamId}.oldtoken", ["MailId"] = "mail_old" });

        var viewerOfB = await b.MemberKeyAsync(Role.Viewer);
        var seenByB = await b.QrApi(viewerOfB).GetAsync($"/api/dev/outbox?email={email}").DataAsync();
        Assert.Empty(seenByB.EnumerateArray());
        var seenByA = await a.QrApi().GetAsync($"/api/dev/outbox?email={email}").DataAsync();
        var mail = Assert.Single(seenByA.EnumerateArray());
        Assert.Contains($"/invite/{a.TeamId}.", mail.GetProperty("text").GetString());

        // B invites the same address: each organization sees its own invitation only.
        await b.QrApi().PutJsonAsync($"/api/teams-api/{b.TeamId}/members", new { name = "Shared", email, role = "viewer" }).OkAsync();
        await service.DrainQueueAsync("SendEmail");
        var nowSeenByB = Assert.Single((await b.QrApi(viewerOfB).GetAsync($"/api/dev/outbox?email={email}").DataAsync()).EnumerateArray());
        Assert.Contains($"/invite/{b.TeamId}.", nowSeenByB.GetProperty("text").GetString());
        Assert.Single((await a.QrApi().GetAsync($"/api/dev/outbox?email={email}").DataAsync()).EnumerateArray());
    }
}
