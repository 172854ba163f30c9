using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Azure.Data.Tables;
using QrFunctions.Auth;
using QrFunctions.Scans;
using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Qrs;

public class QrCrudTests(TestService service) : IClassFixture<TestService>
{
    private static object Web(string? displayId = null, string name = "Product Launch Landing Page") => new
    {
        name, qrType = "WEB", displayId, qrRedirectUrl = "https://acmecorp.com/product-launch",
    };

    [Fact]
    public async Task TheSeedsQuickExampleCreatesACodeWithARealImageThatDecodesToItsScanUrl()
    {
        var tenant = await service.NewTenantAsync();
        var displayId = "launch-" + Guid.NewGuid().ToString("N")[..8];
        var qr = await tenant.QrApi().PostAsync("/api/qrs-api", ApiCalls.Json(
            $$"""{"name":"Product Launch Landing Page","qrType":"WEB","displayId":"{{displayId}}","qrRedirectUrl":"https://acmecorp.com/product-launch"}"""))
            .DataAsync(HttpStatusCode.Created);

        Assert.StartsWith("qr_", qr.GetProperty("id").GetString());
        Assert.Equal(displayId, qr.GetProperty("displayId").GetString());
        Assert.Equal("WEB", qr.GetProperty("qrType").GetString());
        Assert.Equal(tenant.TeamId, qr.GetProperty("teamId").GetString());
        Assert.Equal(tenant.OrgId, qr.GetProperty("orgId").GetString());
        Assert.False(qr.GetProperty("deleted").GetBoolean());
        Assert.Equal(tenant.OwnerKey.KeyId, qr.GetProperty("createdBy").GetString());
        Assert.True(qr.GetProperty("createdAt").GetInt64() > 1_700_000_000_000);
        var scanUrl = "https://scan.test/" + displayId;
        Assert.Equal(scanUrl, qr.GetProperty("scanUrl").GetString());

        // The image is a real blob, named by its hash, and a real decoder reads the scan URL from it.
        var hash = qr.GetProperty("qrImageHash").GetString()!;
        var blob = service.Storage.QrImages.GetBlobClient(hash + ".png");
        Assert.EndsWith(hash + ".png", qr.GetProperty("qrImageUrl").GetString());
        var properties = (await blob.GetPropertiesAsync()).Value;
        Assert.Equal("image/png", properties.ContentType);
        Assert.Contains("immutable", properties.CacheControl);
        var file = Path.GetTempFileName();
        try
        {
            await blob.DownloadToAsync(file);
            Assert.Equal(scanUrl, await DecodeAsync(file));
        }
        finally { File.Delete(file); }
        Assert.True((await service.Storage.QrImages.GetBlobClient(hash + ".svg").ExistsAsync()).Value);

        // The scan link is published on the route row.
        var route = (await service.Storage.Routes.GetEntityAsync<TableEntity>(displayId, QrRoute.Row)).Value;
        Assert.Equal(QrRoute.States.Live, route.GetString("State"));
        Assert.Equal(qr.GetProperty("id").GetString(), route.GetString("QrId"));
    }

    [Fact]
    public async Task UnknownFieldsAndTypeSpecificFieldsAreKeptAndReturned()
    {
        var tenant = await service.NewTenantAsync();
        var created = await tenant.QrApi().PostAsync("/api/qrs-api", ApiCalls.Json("""
            {"qrType":"VCARD","firstName":"Ada","lastName":"Lovelace","customerRef":{"crm":"A-17","tier":2},"metadata":{"campaign":"x"}}
            """)).DataAsync(HttpStatusCode.Created);
        Assert.Equal("Untitled", created.GetProperty("name").GetString());
        Assert.Equal("Ada", created.GetProperty("firstName").GetString());
        Assert.Equal("A-17", created.GetProperty("customerRef").GetProperty("crm").GetString());
        var id = created.GetProperty("id").GetString();
        var read = await tenant.QrApi().GetAsync($"/api/qrs-api/{id}").DataAsync();
        Assert.Equal(2, read.GetProperty("customerRef").GetProperty("tier").GetInt32());
        Assert.Equal("x", read.GetProperty("metadata").GetProperty("campaign").GetString());
        // A generated displayId is short, URL-safe and random.
        Assert.Matches("^[a-z2-9]{8}$", read.GetProperty("displayId").GetString());
    }

    [Fact]
    public async Task FiftyParallelCreatesOfOneDisplayIdGiveExactlyOneCode()
    {
        var tenant = await service.NewTenantAsync();
        var displayId = "race-" + Guid.NewGuid().ToString("N")[..8];
        var client = tenant.QrApi();
        var responses = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => client.PostAsync("/api/qrs-api", ApiCalls.Json(Web(displayId)))));
        Assert.Single(responses, r => r.StatusCode == HttpStatusCode.Created);
        var refused = responses.Where(r => r.StatusCode != HttpStatusCode.Created).ToList();
        Assert.Equal(49, refused.Count);
        foreach (var r in refused) await r.ErrorAsync(HttpStatusCode.BadRequest, "displayId already exists!");
        var list = await client.GetAsync("/api/qrs-api/v2/teams?limit=100").DataAsync();
        Assert.Equal(1, list.GetProperty("totalCount").GetInt32());
    }

    [Fact]
    public async Task ChangingADisplayIdFreesTheOldOneAndTakenOnesAreRefused()
    {
        var tenant = await service.NewTenantAsync();
        var client = tenant.QrApi();
        var a = "a-" + Guid.NewGuid().ToString("N")[..8];
        var b = "b-" + Guid.NewGuid().ToString("N")[..8];
        var first = await client.PostAsync("/api/qrs-api", ApiCalls.Json(Web(a))).DataAsync(HttpStatusCode.Created);
        await client.PostAsync("/api/qrs-api", ApiCalls.Json(Web(b))).DataAsync(HttpStatusCode.Created);
        var id = first.GetProperty("id").GetString();

        await client.PutAsync($"/api/qrs-api/{id}", ApiCalls.Json(Web(b))).ErrorAsync(HttpStatusCode.BadRequest, "displayId already exists!");
        var c = "c-" + Guid.NewGuid().ToString("N")[..8];
        var moved = await client.PutAsync($"/api/qrs-api/{id}", ApiCalls.Json(Web(c, "Renamed"))).DataAsync();
        Assert.Equal(c, moved.GetProperty("displayId").GetString());
        Assert.Equal("Renamed", moved.GetProperty("name").GetString());

        var anonymous = service.Anonymous();
        Assert.Equal("available", (await anonymous.GetAsync($"/api/qrs-api/availability/{a}").DataAsync()).GetString());
        await anonymous.GetAsync($"/api/qrs-api/availability/{c}").ErrorAsync(HttpStatusCode.OK, "displayId already exists!");
        await anonymous.GetAsync("/api/qrs-api/availability/bad%20id").ErrorAsync(HttpStatusCode.BadRequest, "Invalid ID format");
    }

    [Fact]
    public async Task DeleteHidesTheCodeStopsTheLinkAndKeepsTheDisplayIdTaken()
    {
        var tenant = await service.NewTenantAsync();
        var client = tenant.QrApi();
        var displayId = "gone-" + Guid.NewGuid().ToString("N")[..8];
        var qr = await client.PostAsync("/api/qrs-api", ApiCalls.Json(Web(displayId))).DataAsync(HttpStatusCode.Created);
        var id = qr.GetProperty("id").GetString();

        var deleted = await client.DeleteAsync($"/api/qrs-api/{id}").DataAsync();
        Assert.True(deleted.GetProperty("deleted").GetBoolean());
        await client.GetAsync($"/api/qrs-api/{id}").ErrorAsync(HttpStatusCode.NotFound);
        await client.DeleteAsync($"/api/qrs-api/{id}").ErrorAsync(HttpStatusCode.NotFound);
        var list = await client.GetAsync("/api/qrs-api/v2/teams").DataAsync();
        Assert.Equal(0, list.GetProperty("totalCount").GetInt32());
        Assert.Empty(list.GetProperty("qrs").EnumerateArray());
        var route = (await service.Storage.Routes.GetEntityAsync<TableEntity>(displayId, QrRoute.Row)).Value;
        Assert.NotEqual(QrRoute.States.Live, route.GetString("State"));
        await service.Anonymous().GetAsync($"/api/qrs-api/availability/{displayId}").ErrorAsync(HttpStatusCode.OK, "displayId already exists!");
    }

    [Fact]
    public async Task DuplicateMakesANewIdAndANewDisplayId()
    {
        var tenant = await service.NewTenantAsync();
        var client = tenant.QrApi();
        var original = await client.PostAsync("/api/qrs-api", ApiCalls.Json(Web("dup-" + Guid.NewGuid().ToString("N")[..8]))).DataAsync(HttpStatusCode.Created);
        var copy = await client.PostAsync($"/api/qrs-api/duplicate/{original.GetProperty("id").GetString()}", ApiCalls.Json(new { name = "Copy" }))
            .DataAsync(HttpStatusCode.Created);
        Assert.NotEqual(original.GetProperty("id").GetString(), copy.GetProperty("id").GetString());
        Assert.NotEqual(original.GetProperty("displayId").GetString(), copy.GetProperty("displayId").GetString());
        Assert.Equal("Copy", copy.GetProperty("name").GetString());
        Assert.Equal(original.GetProperty("qrRedirectUrl").GetString(), copy.GetProperty("qrRedirectUrl").GetString());
        var noName = await client.PostAsync($"/api/qrs-api/duplicate/{original.GetProperty("id").GetString()}", null).DataAsync(HttpStatusCode.Created);
        Assert.EndsWith("(copy)", noName.GetProperty("name").GetString());

        // The public client's answer for a code that is not there (unknown, or deleted): 400, not 404.
        await client.PostAsync($"/api/qrs-api/duplicate/{QrFunctions.Storage.Ids.New("qr")}", null).ErrorAsync(HttpStatusCode.BadRequest, "Invalid QR or unauthorized");
        await client.DeleteAsync($"/api/qrs-api/{copy.GetProperty("id").GetString()}").DataAsync();
        await client.PostAsync($"/api/qrs-api/duplicate/{copy.GetProperty("id").GetString()}", null).ErrorAsync(HttpStatusCode.BadRequest, "Invalid QR or unauthorized");
    }

    [Fact]
    public async Task TagsAndTitleChangeOnlyTheirFields()
    {
        var tenant = await service.NewTenantAsync();
        var client = tenant.QrApi();
        var qr = await client.PostAsync("/api/qrs-api", ApiCalls.Json(Web())).DataAsync(HttpStatusCode.Created);
        var id = qr.GetProperty("id").GetString();
        var tagged = await client.PutJsonAsync($"/api/qrs-api/{id}/tags", new { tags = new[] { "summer", "print" } }).DataAsync();
        Assert.Equal(["summer", "print"], tagged.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
        Assert.True(tagged.GetProperty("updatedAt").GetInt64() > qr.GetProperty("updatedAt").GetInt64());
        var titled = await client.PatchJsonAsync($"/api/qrs-api/{id}/title", new { title = "Summer Campaign - Homepage" }).DataAsync();
        Assert.Equal("Summer Campaign - Homepage", titled.GetProperty("name").GetString());
        Assert.Equal(2, titled.GetProperty("tags").GetArrayLength());
        await client.PatchJsonAsync($"/api/qrs-api/{id}/title", new { title = " " }).ErrorAsync(HttpStatusCode.BadRequest, "title");
        await client.PatchJsonAsync($"/api/qrs-api/{id}/title", new { }).ErrorAsync(HttpStatusCode.BadRequest, "title");
        await client.PutJsonAsync($"/api/qrs-api/{id}/tags", new { tags = "x" }).ErrorAsync(HttpStatusCode.BadRequest, "tags");
    }

    [Fact]
    public async Task FromTimeReturnsCodesChangedAfterThatMomentIncludingDeletions()
    {
        var tenant = await service.NewTenantAsync();
        var client = tenant.QrApi();
        var old = await client.PostAsync("/api/qrs-api", ApiCalls.Json(Web())).DataAsync(HttpStatusCode.Created);
        var mark = old.GetProperty("updatedAt").GetInt64();
        await Task.Delay(5);
        var fresh = await client.PostAsync("/api/qrs-api", ApiCalls.Json(Web())).DataAsync(HttpStatusCode.Created);
        var changed = await client.GetAsync($"/api/qrs-api/teams/fromTime/{mark}").DataAsync();
        Assert.Equal([fresh.GetProperty("id").GetString()], changed.EnumerateArray().Select(q => q.GetProperty("id").GetString()));
        await client.DeleteAsync($"/api/qrs-api/{old.GetProperty("id").GetString()}");
        var all = await client.GetAsync($"/api/qrs-api/all/fromTime/{mark}").DataAsync();
        Assert.Contains(all.EnumerateArray(), q => q.GetProperty("id").GetString() == old.GetProperty("id").GetString() && q.GetProperty("deleted").GetBoolean());
        await client.GetAsync("/api/qrs-api/teams/fromTime/yesterday").ErrorAsync(HttpStatusCode.BadRequest, "fromTime");
    }

    [Fact]
    public async Task TheDefaultTemplateIsListedAndUnknownTemplatesAreRefused()
    {
        var tenant = await service.NewTenantAsync();
        var templates = await tenant.QrApi().GetAsync("/api/qr-templates-api").DataAsync();
        var template = Assert.Single(templates.EnumerateArray());
        Assert.Equal("default", template.GetProperty("id").GetString());
        await tenant.QrApi().PostJsonAsync("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://a.example/", templateId = "nope" })
            .ErrorAsync(HttpStatusCode.BadRequest, "templateId");
    }

    [Fact]
    public async Task OverThePlansCodeLimitCreationIsRefusedWithTheWordLimit()
    {
        var tenant = await service.NewTenantAsync("Business Plus");
        var org = (await service.Storage.Orgs.GetEntityAsync<QrFunctions.Organizations.Organization>(tenant.OrgId, "org")).Value;
        org.PlanOverrides = """{"maxQrCodesPerTeam":2,"requestsPerSecond":100,"burst":100}""";
        await service.Storage.Orgs.UpdateEntityAsync(org, org.ETag);
        service.Get<TenantDirectory>().ForgetOrg(tenant.OrgId);
        var client = tenant.QrApi();
        await client.PostAsync("/api/qrs-api", ApiCalls.Json(Web())).DataAsync(HttpStatusCode.Created);
        await client.PostAsync("/api/qrs-api", ApiCalls.Json(Web())).DataAsync(HttpStatusCode.Created);
        await client.PostAsync("/api/qrs-api", ApiCalls.Json(Web())).ErrorAsync(HttpStatusCode.BadRequest, "limit");
    }

    internal static async Task<string> DecodeAsync(string pngFile)
    {
        var psi = new ProcessStartInfo("node") { WorkingDirectory = RepoPaths.Root, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(RepoPaths.Root, "tests/QrFunctions.Tests/Qrs/decode-qr.js"));
        psi.ArgumentList.Add(pngFile);
        using var node = Process.Start(psi)!;
        var output = await node.StandardOutput.ReadToEndAsync();
        var error = await node.StandardError.ReadToEndAsync();
        await node.WaitForExitAsync();
        Assert.True(node.ExitCode == 0, "decoder failed: " + error);
        return output;
    }
}
