using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Routing;
using QrFunctions.Auth;
using QrFunctions.Hosting;
using QrFunctions.Organizations;
using QrFunctions.Scans;
using Xunit;

namespace QrFunctions.Tests.Scans;

public class ScanResponseTests(ScanTestService service) : IClassFixture<ScanTestService>
{
    private static HttpRequestMessage Get(string path, string? userAgent = FakeScanClients.Desktop, string? acceptLanguage = null, string? host = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (userAgent is not null) request.Headers.TryAddWithoutValidation("User-Agent", userAgent);
        if (acceptLanguage is not null) request.Headers.TryAddWithoutValidation("Accept-Language", acceptLanguage);
        if (host is not null) request.Headers.Host = host;
        return request;
    }

    private async Task<int> QueuedScansOfAsync(string qrId) => (await service.QueuedEventsAsync()).Count(e => e.QrId == qrId);

    [Fact]
    public async Task WebCodeRedirectsWithoutCacheAndRecordsTheScan()
    {
        var tenant = await service.NewTenantAsync();
        var (displayId, qrId) = await service.PublishAsync(tenant, "WEB", new JsonObject { ["qrRedirectUrl"] = "https://example.com/landing?a=1" });

        var response = await service.Anonymous().SendAsync(Get("/" + displayId));

        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        Assert.Equal("https://example.com/landing?a=1", response.Headers.Location!.ToString());
        Assert.Contains("no-store", response.Headers.CacheControl!.ToString());
        Assert.True(response.Headers.CacheControl.Private);
        Assert.Equal("no-referrer", response.Headers.GetValues("Referrer-Policy").Single());
        Assert.Equal(1, await QueuedScansOfAsync(qrId));
    }

    [Theory]
    [InlineData("SHORT_LINK", "qrRedirectUrl", "https://short.example/x")]
    public async Task LinkTypesRedirectToTheirTarget(string type, string field, string url)
    {
        var tenant = await service.NewTenantAsync();
        var (displayId, _) = await service.PublishAsync(tenant, type, new JsonObject { [field] = url });

        var response = await service.Anonymous().SendAsync(Get("/" + displayId));

        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        Assert.Equal(url, response.Headers.Location!.ToString());
    }

    [Fact]
    public async Task ScriptUrlIsNeverARedirectTarget()
    {
        var tenant = await service.NewTenantAsync();
        var (displayId, qrId) = await service.PublishAsync(tenant, "WEB", new JsonObject { ["qrRedirectUrl"] = "javascript:alert(1)" });

        var response = await service.Anonymous().SendAsync(Get("/" + displayId));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Null(response.Headers.Location);
        Assert.Equal(0, await QueuedScansOfAsync(qrId));
    }

    [Theory]
    [InlineData("de-CH", "https://example.com/de")]                     // language-prefix fallback
    [InlineData("fr;q=0.4, de-CH;q=0.9, en;q=0.5", "https://example.com/de")] // q-values rank the ranges
    [InlineData("en-GB,en;q=0.8", "https://example.com/en-gb")]         // exact locale first
    [InlineData("en-US", "https://example.com/en-gb")]                  // same primary language
    [InlineData("fr-CA;q=0, fr;q=0", "https://example.com/default")]    // q=0 means "not acceptable"
    [InlineData("es", "https://example.com/default")]
    [InlineData(null, "https://example.com/default")]
    public async Task MultiLocaleChoosesByAcceptLanguage(string? acceptLanguage, string expected)
    {
        var tenant = await service.NewTenantAsync();
        var (displayId, _) = await service.PublishAsync(tenant, "MULTI_LOCALE", new JsonObject
        {
            ["defaultQrRedirectUrl"] = "https://example.com/default",
            ["qrRedirectUrls"] = new JsonArray(
                new JsonObject { ["locale"] = "fr", ["qrRedirectUrl"] = "https://example.com/fr" },
                new JsonObject { ["locale"] = "de", ["qrRedirectUrl"] = "https://example.com/de" },
                new JsonObject { ["locale"] = "en-GB", ["qrRedirectUrl"] = "https://example.com/en-gb" },
                new JsonObject { ["locale"] = "it", ["qrRedirectUrl"] = "javascript:alert(1)" }),
        });

        var response = await service.Anonymous().SendAsync(Get("/" + displayId, acceptLanguage: acceptLanguage));

        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        Assert.Equal(expected, response.Headers.Location!.ToString());
    }

    [Theory]
    [InlineData(FakeScanClients.IPhone, "https://apps.apple.com/app/id1")]
    [InlineData(FakeScanClients.Android, "https://play.google.com/store/apps/details?id=x")]
    [InlineData(FakeScanClients.Desktop, "https://example.com/app")]
    public async Task AppDownloadChoosesTheStoreOfTheDevice(string userAgent, string expected)
    {
        var tenant = await service.NewTenantAsync();
        var (displayId, _) = await service.PublishAsync(tenant, "APP_DOWNLOAD", new JsonObject
        {
            ["metadata"] = new JsonObject
            {
                ["appName"] = "App", ["iosUrl"] = "https://apps.apple.com/app/id1",
                ["androidUrl"] = "https://play.google.com/store/apps/details?id=x", ["fallbackUrl"] = "https://example.com/app",
            },
        });

        var response = await service.Anonymous().SendAsync(Get("/" + displayId, userAgent));

        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        Assert.Equal(expected, response.Headers.Location!.ToString());
    }

    [Theory]
    [InlineData("does-not-exist")]
    [InlineData("bad%23char")]
    public async Task UnknownCodeIsAnHtmlNotFoundPage(string displayId)
    {
        var response = await service.Anonymous().SendAsync(Get("/" + displayId));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType!.MediaType);
        Assert.NotNull(response.Headers.GetValues("Content-Security-Policy").Single());
    }

    [Fact]
    public async Task ExpiredCodeIsGoneAndNotRecorded()
    {
        var tenant = await service.NewTenantAsync();
        var (displayId, qrId) = await service.PublishAsync(tenant, "WEB", new JsonObject { ["qrRedirectUrl"] = "https://example.com/" },
            new JsonObject { ["expiryDate"] = Storage.Clock.NowMs() - 1000 });

        var response = await service.Anonymous().SendAsync(Get("/" + displayId));

        Assert.Equal(HttpStatusCode.Gone, response.StatusCode);
        Assert.Null(response.Headers.Location);
        Assert.Equal(0, await QueuedScansOfAsync(qrId));
    }

    [Theory]
    [InlineData(1, 2)]   // starts in the future
    [InlineData(-2, -1)] // ended
    public async Task CodeOutsideItsScheduleIsNotServedNorRecorded(int startHours, int endHours)
    {
        var tenant = await service.NewTenantAsync();
        var now = Storage.Clock.NowMs();
        var (displayId, qrId) = await service.PublishAsync(tenant, "WEB", new JsonObject { ["qrRedirectUrl"] = "https://example.com/" }, new JsonObject
        {
            ["scheduleCampaign"] = true, ["campaignStart"] = now + startHours * 3_600_000L, ["campaignEnd"] = now + endHours * 3_600_000L,
        });

        var response = await service.Anonymous().SendAsync(Get("/" + displayId));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal(0, await QueuedScansOfAsync(qrId));
    }

    [Fact]
    public async Task CodeInsideItsScheduleRedirects()
    {
        var tenant = await service.NewTenantAsync();
        var now = Storage.Clock.NowMs();
        var (displayId, _) = await service.PublishAsync(tenant, "WEB", new JsonObject { ["qrRedirectUrl"] = "https://example.com/" }, new JsonObject
        {
            ["scheduleCampaign"] = true, ["campaignStart"] = now - 3_600_000L, ["campaignEnd"] = now + 3_600_000L,
        });

        var response = await service.Anonymous().SendAsync(Get("/" + displayId));

        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
    }

    [Fact]
    public async Task PasswordProtectedCodeAsksThenRefusesWrongThenServesRight()
    {
        var tenant = await service.NewTenantAsync();
        var (displayId, qrId) = await service.PublishAsync(tenant, "WEB", new JsonObject { ["qrRedirectUrl"] = "https://example.com/secret" },
            new JsonObject { ["passwordEnabled"] = true, ["password"] = "s3cret" });
        var client = service.Anonymous();

        var form = await client.SendAsync(Get("/" + displayId));
        Assert.Equal(HttpStatusCode.OK, form.StatusCode);
        Assert.Contains("type=\"password\"", await form.Content.ReadAsStringAsync());
        Assert.Null(form.Headers.Location);

        var wrong = await client.PostAsync("/" + displayId + "/unlock", new FormUrlEncodedContent([new("password", "guess")]));
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Contains("Wrong password", await wrong.Content.ReadAsStringAsync());
        Assert.Equal(0, await QueuedScansOfAsync(qrId));

        var right = await client.PostAsync("/" + displayId + "/unlock", new FormUrlEncodedContent([new("password", "s3cret")]));
        Assert.Equal(HttpStatusCode.Found, right.StatusCode);
        Assert.Equal("https://example.com/secret", right.Headers.Location!.ToString());
        Assert.Equal(1, await QueuedScansOfAsync(qrId));
    }

    [Fact]
    public async Task UnlockPostWithoutFormIsAWrongPassword()
    {
        var tenant = await service.NewTenantAsync();
        var (displayId, _) = await service.PublishAsync(tenant, "WEB", new JsonObject { ["qrRedirectUrl"] = "https://example.com/" },
            new JsonObject { ["passwordEnabled"] = true, ["password"] = "pw" });

        var response = await service.Anonymous().PostAsync("/" + displayId + "/unlock", new StringContent("{\"password\":\"pw\"}", System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Theory]
    [InlineData("pending", false)]
    [InlineData("reserved", false)]
    [InlineData("live", true)]
    public async Task OnlyLiveUndeletedCodesAreServed(string state, bool deleted)
    {
        var tenant = await service.NewTenantAsync();
        var (displayId, qrId) = await service.PublishAsync(tenant, "WEB", new JsonObject { ["qrRedirectUrl"] = "https://example.com/", ["deleted"] = deleted }, state: state);

        var response = await service.Anonymous().SendAsync(Get("/" + displayId));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Null(response.Headers.Location);
        Assert.Equal(0, await QueuedScansOfAsync(qrId));
    }

    [Fact]
    public async Task ArchivedTeamsCodesStopWorking()
    {
        var tenant = await service.NewTenantAsync();
        var (displayId, _) = await service.PublishAsync(tenant, "WEB", new JsonObject { ["qrRedirectUrl"] = "https://example.com/" });
        await service.UpdateTeamAsync(tenant.TeamId, t => t.Archived = true);

        var response = await service.Anonymous().SendAsync(Get("/" + displayId));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task DeletedOrganizationsCodesStopWorking()
    {
        var tenant = await service.NewTenantAsync();
        var (displayId, _) = await service.PublishAsync(tenant, "WEB", new JsonObject { ["qrRedirectUrl"] = "https://example.com/" });
        var org = (await service.Storage.Orgs.GetEntityAsync<Organization>(tenant.OrgId, Organization.Row)).Value;
        org.Deleted = true;
        await service.Storage.Orgs.UpdateEntityAsync(org, org.ETag);
        service.Get<TenantDirectory>().ForgetOrg(tenant.OrgId);

        var response = await service.Anonymous().SendAsync(Get("/" + displayId));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task CustomDomainServesOnlyItsOwnTeamsCodes()
    {
        var brand = await service.NewTenantAsync();
        var other = await service.NewTenantAsync();
        var host = $"go-{Storage.Ids.Random(6)}.brand.test";
        await service.UpdateTeamAsync(brand.TeamId, t => t.DomainsJson = $"[\"https://{host}/\"]");
        var (own, _) = await service.PublishAsync(brand, "WEB", new JsonObject { ["qrRedirectUrl"] = "https://example.com/own" });
        var (foreign, _) = await service.PublishAsync(other, "WEB", new JsonObject { ["qrRedirectUrl"] = "https://example.com/foreign" });
        var client = service.Anonymous();

        Assert.Equal(HttpStatusCode.Found, (await client.SendAsync(Get("/" + own, host: host))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.SendAsync(Get("/" + foreign, host: host))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.SendAsync(Get("/" + own, host: "unconfigured.test"))).StatusCode);
        // The service's own host serves every team's codes.
        Assert.Equal(HttpStatusCode.Found, (await client.SendAsync(Get("/" + foreign, host: "scan.test"))).StatusCode);
    }

    [Fact]
    public async Task HeadRequestIsAnsweredAndRecordedAsBot()
    {
        var tenant = await service.NewTenantAsync();
        var (displayId, qrId) = await service.PublishAsync(tenant, "WEB", new JsonObject { ["qrRedirectUrl"] = "https://example.com/" });

        var response = await service.Anonymous().SendAsync(new HttpRequestMessage(HttpMethod.Head, "/" + displayId));

        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        var scan = Assert.Single(await service.QueuedEventsAsync(), e => e.QrId == qrId);
        Assert.True(scan.IsBot);
        Assert.Equal("head-request", scan.BotReason);
        Assert.Equal("bot", scan.Device);
    }

    [Fact]
    public void ScanAndAnalyticsAreNamedFunctions()
    {
        var functions = FunctionCatalog.App.HttpFunctions.ToDictionary(f => f.Name);

        Assert.Equal(["get", "head"], functions["Scan"].Methods.Order());
        Assert.Equal("{displayId}", functions["Scan"].Route);
        Assert.True(functions["Scan"].Access.IsPublic);
        Assert.Equal(["post"], functions["ScanUnlock"].Methods);
        Assert.Equal("api/analytics-api/detailed/{qrId}", functions["AnalyticsDetailed"].Route);
        Assert.Contains("AnalyticsDetailedAll", functions.Keys);
        Assert.Contains("AnalyticsOverviews", functions.Keys);
        Assert.Contains("AnalyticsBreakdown", functions.Keys);
        Assert.Contains(FunctionCatalog.App.QueueFunctions, q => q.Name == "AggregateScans" && q.Queue == "scan-events");
    }

    [Fact]
    public async Task ApiRoutesStillWinOverTheScanRoute()
    {
        var response = await service.Anonymous().GetAsync("/api/qr-templates-api");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }
}

/// <summary>With the route cache on, a scan is served from memory: even a deleted routes row keeps serving until the TTL ends.</summary>
public class CachedScanRouteTests(CachedScanRouteTests.LongCacheService service) : IClassFixture<CachedScanRouteTests.LongCacheService>
{
    public sealed class LongCacheService : ScanTestService
    {
        protected override string CacheSeconds => "300";
    }

    [Fact]
    public async Task RepeatedScansAreServedFromTheCache()
    {
        var tenant = await service.NewTenantAsync();
        var (displayId, _) = await service.PublishAsync(tenant, "WEB", new JsonObject { ["qrRedirectUrl"] = "https://example.com/cached" });
        var client = service.Anonymous();
        Assert.Equal(HttpStatusCode.Found, (await client.GetAsync("/" + displayId)).StatusCode);

        await service.Storage.Routes.DeleteEntityAsync(displayId, QrRoute.Row);

        var again = await client.GetAsync("/" + displayId);
        Assert.Equal(HttpStatusCode.Found, again.StatusCode);
        Assert.Equal("https://example.com/cached", again.Headers.Location!.ToString());
    }
}
