using System.Net;
using System.Net.Http.Headers;
using Azure.Data.Tables;
using QrFunctions.Auth;
using QrFunctions.Tests.Infrastructure;
using QrFunctions.Tests.Scans;
using Xunit;

namespace QrFunctions.Tests.Qrs;

/// <summary>The QR API end to end: scanning what it created, roles, team isolation, approvals, logos.</summary>
public class QrAccessAndWorkflowTests(ScanTestService service) : IClassFixture<ScanTestService>
{
    private static object Web(string url = "https://acmecorp.com/a") => new { qrType = "WEB", name = "code", qrRedirectUrl = url };

    private async Task<string> CreateAsync(Tenant tenant, HttpClient? client = null) =>
        (await (client ?? tenant.QrApi()).PostJsonAsync("/api/qrs-api", Web()).DataAsync(HttpStatusCode.Created)).GetProperty("id").GetString()!;

    [Fact]
    public async Task ACreatedCodeRedirectsWhenScannedAndItsUpdatesAreServed()
    {
        var tenant = await service.NewTenantAsync();
        var qr = await tenant.QrApi().PostJsonAsync("/api/qrs-api", Web()).DataAsync(HttpStatusCode.Created);
        var displayId = qr.GetProperty("displayId").GetString();
        var scanner = service.Anonymous();
        var scan = await scanner.GetAsync("/" + displayId);
        Assert.Equal(HttpStatusCode.Redirect, scan.StatusCode);
        Assert.Equal("https://acmecorp.com/a", scan.Headers.Location!.ToString());

        await tenant.QrApi().PutJsonAsync($"/api/qrs-api/{qr.GetProperty("id").GetString()}", new { qrType = "WEB", qrRedirectUrl = "https://acmecorp.com/b", displayId })
            .DataAsync();
        Assert.Equal("https://acmecorp.com/b", (await scanner.GetAsync("/" + displayId)).Headers.Location!.ToString());

        await tenant.QrApi().DeleteAsync($"/api/qrs-api/{qr.GetProperty("id").GetString()}");
        Assert.Equal(HttpStatusCode.NotFound, (await scanner.GetAsync("/" + displayId)).StatusCode);
    }

    [Fact]
    public async Task ViewersReadButCannotWriteAndEditorsCan()
    {
        var tenant = await service.NewTenantAsync();
        var id = await CreateAsync(tenant);
        var viewer = tenant.QrApi(await tenant.MemberKeyAsync(Role.Viewer));
        await viewer.GetAsync($"/api/qrs-api/{id}").DataAsync();
        await viewer.GetAsync("/api/qrs-api/v2/teams").DataAsync();
        await viewer.GetAsync("/api/qr-templates-api").DataAsync();
        await viewer.PostJsonAsync("/api/qrs-api", Web()).ErrorAsync(HttpStatusCode.Forbidden, "editor");
        await viewer.PutJsonAsync($"/api/qrs-api/{id}", Web()).ErrorAsync(HttpStatusCode.Forbidden);
        await viewer.DeleteAsync($"/api/qrs-api/{id}").ErrorAsync(HttpStatusCode.Forbidden);
        await viewer.PutJsonAsync($"/api/qrs-api/{id}/tags", new { tags = new[] { "x" } }).ErrorAsync(HttpStatusCode.Forbidden);
        await viewer.PatchJsonAsync($"/api/qrs-api/{id}/title", new { title = "x" }).ErrorAsync(HttpStatusCode.Forbidden);
        await viewer.PostAsync($"/api/qrs-api/duplicate/{id}", null).ErrorAsync(HttpStatusCode.Forbidden);

        var editor = tenant.QrApi(await tenant.MemberKeyAsync(Role.Editor));
        await CreateAsync(tenant, editor);
        await editor.PatchJsonAsync($"/api/qrs-api/{id}/title", new { title = "by editor" }).DataAsync();
        await editor.PostAsync($"/api/qrs-api/{id}/approve", null).ErrorAsync(HttpStatusCode.Forbidden, "admin");
    }

    [Fact]
    public async Task PausedMembersAndUnknownTeamsAreForbidden()
    {
        var tenant = await service.NewTenantAsync();
        var paused = tenant.QrApi(await tenant.MemberKeyAsync(Role.Admin, status: "paused"));
        await paused.GetAsync("/api/qr-templates-api").ErrorAsync(HttpStatusCode.Forbidden, "paused");
        await tenant.QrApi(teamId: "ws_doesnotexist").GetAsync("/api/qr-templates-api").ErrorAsync(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task AKeyOfOneTeamGets404ForEveryOtherTeamsCode()
    {
        var a = await service.NewTenantAsync();
        var b = await service.NewTenantAsync();
        var theirs = await CreateAsync(b);
        var mine = a.QrApi();
        // Naming the other team in the header is a 403 (no access); naming their code in our team is a 404.
        await mine.GetAsync($"/api/qrs-api/{theirs}").ErrorAsync(HttpStatusCode.NotFound);
        await mine.GetAsync($"/api/qrs-api/teams/{theirs}").ErrorAsync(HttpStatusCode.NotFound);
        await mine.PutJsonAsync($"/api/qrs-api/{theirs}", Web()).ErrorAsync(HttpStatusCode.NotFound);
        await mine.DeleteAsync($"/api/qrs-api/{theirs}").ErrorAsync(HttpStatusCode.NotFound);
        await mine.PutJsonAsync($"/api/qrs-api/{theirs}/tags", new { tags = new[] { "x" } }).ErrorAsync(HttpStatusCode.NotFound);
        await mine.PatchJsonAsync($"/api/qrs-api/{theirs}/title", new { title = "x" }).ErrorAsync(HttpStatusCode.NotFound);
        await mine.PostAsync($"/api/qrs-api/duplicate/{theirs}", null).ErrorAsync(HttpStatusCode.BadRequest, "Invalid QR or unauthorized");
        await mine.PostAsync($"/api/qrs-api/{theirs}/image", new ByteArrayContent([1, 2, 3])).ErrorAsync(HttpStatusCode.NotFound);
        await mine.PostAsync($"/api/qrs-api/{theirs}/approve", null).ErrorAsync(HttpStatusCode.NotFound);
        var list = await mine.GetAsync("/api/qrs-api/v2/teams?search=code").DataAsync();
        Assert.Equal(0, list.GetProperty("totalCount").GetInt32());
        Assert.Empty((await mine.GetAsync("/api/qrs-api/all/fromTime/0").DataAsync()).EnumerateArray());
        await a.QrApi(teamId: b.TeamId).GetAsync($"/api/qrs-api/{theirs}").ErrorAsync(HttpStatusCode.Forbidden);
        // And B's code is untouched.
        Assert.Equal("code", (await b.QrApi().GetAsync($"/api/qrs-api/{theirs}").DataAsync()).GetProperty("name").GetString());
    }

    [Fact]
    public async Task InAnApprovalWorkspaceAnEditorsChangeWaitsForAnAdmin()
    {
        var tenant = await service.NewTenantAsync();
        var team = (await service.Storage.TeamData.GetEntityAsync<QrFunctions.Teams.Team>(tenant.TeamId, "team")).Value;
        team.ApprovalRequired = true;
        await service.Storage.TeamData.UpdateEntityAsync(team, team.ETag);
        service.Get<TenantDirectory>().ForgetTeam(tenant.TeamId);
        var editor = tenant.QrApi(await tenant.MemberKeyAsync(Role.Editor));
        var scanner = service.Anonymous();

        var created = await editor.PostJsonAsync("/api/qrs-api", Web("https://acmecorp.com/v1")).DataAsync(HttpStatusCode.Created);
        var id = created.GetProperty("id").GetString();
        var displayId = created.GetProperty("displayId").GetString();
        Assert.Equal("pending", created.GetProperty("approvalStatus").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await scanner.GetAsync("/" + displayId)).StatusCode);

        var approved = await tenant.QrApi().PostAsync($"/api/qrs-api/{id}/approve", null).DataAsync();
        Assert.Equal("approved", approved.GetProperty("approvalStatus").GetString());
        Assert.Equal("https://acmecorp.com/v1", (await scanner.GetAsync("/" + displayId)).Headers.Location!.ToString());

        // A later change by the editor keeps serving the approved content until decided; a rejection restores it.
        await editor.PutJsonAsync($"/api/qrs-api/{id}", new { qrType = "WEB", qrRedirectUrl = "https://evil.example/", displayId }).DataAsync();
        Assert.Equal("https://acmecorp.com/v1", (await scanner.GetAsync("/" + displayId)).Headers.Location!.ToString());
        var rejected = await tenant.QrApi().PostAsync($"/api/qrs-api/{id}/reject", null).DataAsync();
        Assert.Equal("rejected", rejected.GetProperty("approvalStatus").GetString());
        Assert.Equal("https://acmecorp.com/v1", rejected.GetProperty("qrRedirectUrl").GetString());
        await tenant.QrApi().PostAsync($"/api/qrs-api/{id}/approve", null).ErrorAsync(HttpStatusCode.BadRequest, "approval");

        // Admins publish directly.
        var direct = await tenant.QrApi().PutJsonAsync($"/api/qrs-api/{id}", new { qrType = "WEB", qrRedirectUrl = "https://acmecorp.com/v2", displayId }).DataAsync();
        Assert.Equal("approved", direct.GetProperty("approvalStatus").GetString());
        Assert.Equal("https://acmecorp.com/v2", (await scanner.GetAsync("/" + displayId)).Headers.Location!.ToString());

        var actions = new List<string>();
        await foreach (var e in service.Storage.TeamData.QueryAsync<TableEntity>(QrFunctions.Storage.TableQueries.PrefixFilter(tenant.TeamId, "audit|")))
            if (e.GetString("ResourceId") == id) actions.Add(e.GetString("Action"));
        Assert.Equal(["codes.updated", "codes.rejected", "codes.updated", "codes.approved", "codes.created"], actions);
    }

    [Fact]
    public async Task ALogoUploadRerendersTheImageAndBadUploadsAreRefused()
    {
        var tenant = await service.NewTenantAsync();
        var qr = await tenant.QrApi().PostJsonAsync("/api/qrs-api", Web()).DataAsync(HttpStatusCode.Created);
        var id = qr.GetProperty("id").GetString();
        var logo = File.ReadAllBytes(Path.Combine(RepoPaths.Root, "tests/QrFunctions.Tests/Qrs/logo.png"));

        var raw = new ByteArrayContent(logo);
        raw.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        var withLogo = await tenant.QrApi().PostAsync($"/api/qrs-api/{id}/image", raw).DataAsync();
        Assert.NotEqual(qr.GetProperty("qrImageHash").GetString(), withLogo.GetProperty("qrImageHash").GetString());
        var svg = (await service.Storage.QrImages.GetBlobClient(withLogo.GetProperty("qrImageHash").GetString() + ".svg").DownloadContentAsync()).Value.Content.ToString();
        Assert.Contains("<image", svg);
        // The PNG carries the logo in its middle and still decodes to the scan URL.
        var png = (await service.Storage.QrImages.GetBlobClient(withLogo.GetProperty("qrImageHash").GetString() + ".png").DownloadContentAsync()).Value.Content.ToArray();
        using (var bitmap = SkiaSharp.SKBitmap.Decode(png))
        {
            var middle = bitmap.GetPixel(bitmap.Width / 2, bitmap.Height / 2);
            Assert.Equal((200, 30, 30), ((int)middle.Red, (int)middle.Green, (int)middle.Blue));
        }
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllBytesAsync(file, png);
            Assert.Equal(withLogo.GetProperty("scanUrl").GetString(), await QrCrudTests.DecodeAsync(file));
        }
        finally { File.Delete(file); }

        var form = new MultipartFormDataContent { { new ByteArrayContent(logo), "file", "logo.png" } };
        await tenant.QrApi().PostAsync($"/api/qrs-api/{id}/image", form).DataAsync();

        await tenant.QrApi().PostAsync($"/api/qrs-api/{id}/image", new StringContent("not an image")).ErrorAsync(HttpStatusCode.UnsupportedMediaType);
        await tenant.QrApi().PostAsync($"/api/qrs-api/{id}/image", new ByteArrayContent([])).ErrorAsync(HttpStatusCode.BadRequest);
        var huge = new byte[1_200_000];
        logo.CopyTo(huge, 0);
        await tenant.QrApi().PostAsync($"/api/qrs-api/{id}/image", new ByteArrayContent(huge)).ErrorAsync(HttpStatusCode.RequestEntityTooLarge);
    }
}
