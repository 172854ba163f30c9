using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Data.Tables;
using QrFunctions.Auth;
using QrFunctions.Hosting;
using QrFunctions.Scans;
using QrFunctions.Storage;
using QrFunctions.Tests.Infrastructure;
using QrFunctions.Tests.Scans;
using Xunit;

namespace QrFunctions.Tests.Analytics;

public class AnalyticsApiTests(ScanTestService service) : IClassFixture<ScanTestService>
{
    private const long Day = 86_400_000L;

    /// <summary>Aggregates one batch of scans of a code at the given times (ms), as the queue trigger would.</summary>
    private async Task<string> ScannedCodeAsync(Tenant tenant, params long[] times)
    {
        var qrId = Ids.New("qr");
        var batch = new ScanBatch
        {
            BatchId = Guid.NewGuid().ToString("N"),
            Events = times.Select(t => new ScanEvent
            {
                QrId = qrId, TeamId = tenant.TeamId, OrgId = tenant.OrgId, ScanTime = t, Device = "desktop", Os = "Windows", Browser = "Chrome",
                IpAddress = "203.0.113.0", VisitorHash = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()),
            }).ToList(),
        };
        await service.NewAggregator().AggregateAsync(JsonSerializer.Serialize(batch, ScanBatch.Json), CancellationToken.None);
        return qrId;
    }

    private static async Task<(HttpStatusCode Status, JsonObject Body)> PostAsync(HttpClient client, string path, object body)
    {
        var response = await client.PostAsJsonAsync(path, body);
        return (response.StatusCode, (await response.Content.ReadFromJsonAsync<JsonObject>())!);
    }

    [Theory]
    [InlineData("{\"startTime\":0,\"endTime\":1}", "qrIds")]
    [InlineData("{\"qrIds\":\"qr_x\",\"startTime\":0,\"endTime\":1}", "qrIds")]
    [InlineData("{\"qrIds\":[],\"startTime\":0,\"endTime\":1}", "qrIds")]
    [InlineData("{\"qrIds\":[\"qr_x\"],\"endTime\":1}", "startTime")]
    [InlineData("{\"qrIds\":[\"qr_x\"],\"startTime\":\"0\",\"endTime\":1}", "startTime")]
    [InlineData("{\"qrIds\":[\"qr_x\"],\"startTime\":0}", "endTime")]
    [InlineData("{\"qrIds\":[\"qr_x\"],\"startTime\":5,\"endTime\":1}", "startTime")]
    [InlineData("{\"qrIds\":[\"qr_x\"],\"startTime\":0,\"endTime\":1,\"limit\":0}", "limit")]
    [InlineData("{\"qrIds\":[\"qr_x\"],\"startTime\":0,\"endTime\":1,\"limit\":5001}", "limit")]
    [InlineData("{\"qrIds\":[\"qr_x\"],\"startTime\":0,\"endTime\":1,\"cursor\":\"not-a-cursor\"}", "cursor")]
    [InlineData("{\"qrIds\":[\"qr_x\"],\"startTime\":0,\"endTime\":1,\"cursor\":42}", "cursor")]
    public async Task DetailedAllRejectsBadRequestsNamingTheField(string body, string named)
    {
        var tenant = await service.NewTenantAsync();

        var response = await tenant.QrApi().PostAsync("/api/analytics-api/detailed/all", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.False((bool)error["success"]!);
        Assert.Contains(named, (string)error["message"]!);
    }

    [Fact]
    public async Task DetailedAllRefusesMoreThanAHundredCodes()
    {
        var tenant = await service.NewTenantAsync();

        var (status, body) = await PostAsync(tenant.QrApi(), "/api/analytics-api/detailed/all",
            new { qrIds = Enumerable.Range(0, 101).Select(i => "qr_" + i).ToArray(), startTime = 0, endTime = 1 });

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("qrIds", (string)body["message"]!);
    }

    [Fact]
    public async Task OverviewsRequireQrIds()
    {
        var tenant = await service.NewTenantAsync();

        var (status, body) = await PostAsync(tenant.QrApi(), "/api/analytics-api/overviews", new { ids = new[] { "x" } });

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("qrIds", (string)body["message"]!);
    }

    [Fact]
    public async Task DetailedAllReturnsOnlyScansInsideTheWindowNewestFirst()
    {
        var tenant = await service.NewTenantAsync();
        var now = Clock.NowMs();
        var a = await ScannedCodeAsync(tenant, now - 10 * Day, now - 3 * Day, now - 1000);
        var b = await ScannedCodeAsync(tenant, now - 2 * Day, now - 40 * Day);

        var (status, body) = await PostAsync(tenant.QrApi(), "/api/analytics-api/detailed/all", new { qrIds = new[] { a, b }, startTime = now - 5 * Day, endTime = now - 500 });

        Assert.Equal(HttpStatusCode.OK, status);
        var times = body["data"]!.AsArray().Select(s => (long)s!["scanTime"]!).ToList();
        Assert.Equal([now - 1000, now - 2 * Day, now - 3 * Day], times);
    }

    [Fact]
    public async Task AYearLongWindowIsAnsweredAsThePublicClientsOwnExampleAsks()
    {
        var tenant = await service.NewTenantAsync();
        var now = Clock.NowMs();
        var code = await ScannedCodeAsync(tenant, now - 300 * Day, now - 200 * Day, now - 100 * Day, now - 1000);

        var (status, body) = await PostAsync(tenant.QrApi(), "/api/analytics-api/detailed/all", new { qrIds = new[] { code }, startTime = now - 366 * Day, endTime = now });
        var (exampleStatus, example) = await PostAsync(tenant.QrApi(), "/api/analytics-api/detailed/all",
            new { qrIds = new[] { code }, startTime = 1704067200000L, endTime = 1735689600000L });

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal([now - 1000, now - 100 * Day, now - 200 * Day, now - 300 * Day], body["data"]!.AsArray().Select(s => (long)s!["scanTime"]!));
        Assert.Null(body["nextCursor"]);
        Assert.Equal(HttpStatusCode.OK, exampleStatus);
        Assert.Empty(example["data"]!.AsArray()); // 2024: before these scans
    }

    [Fact]
    public async Task PagesOfSeveralCodesFollowTheCursorWithoutRepeatsOrGaps()
    {
        var tenant = await service.NewTenantAsync();
        var now = Clock.NowMs();
        // Two codes with scans at the same milliseconds, so the order must break ties the same way on every page.
        var times = new[] { now - 1000, now - 1000, now - 5 * Day, now - 40 * Day, now - 40 * Day, now - 90 * Day, now - 200 * Day };
        var a = await ScannedCodeAsync(tenant, times);
        var b = await ScannedCodeAsync(tenant, times[..5]);
        var request = new { qrIds = new[] { a, b }, startTime = now - 366 * Day, endTime = now };
        var all = (await PostAsync(tenant.QrApi(), "/api/analytics-api/detailed/all", request)).Body["data"]!.AsArray()
            .Select(s => ((string)s!["qrId"]!, (long)s["scanTime"]!)).ToList();

        var paged = new List<(string, long)>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var (status, page) = await PostAsync(tenant.QrApi(), "/api/analytics-api/detailed/all",
                new { request.qrIds, request.startTime, request.endTime, limit = 3, cursor });
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.True(page["data"]!.AsArray().Count <= 3);
            paged.AddRange(page["data"]!.AsArray().Select(s => ((string)s!["qrId"]!, (long)s["scanTime"]!)));
            cursor = (string?)page["nextCursor"];
            pages++;
        } while (cursor is not null && pages < 20);

        Assert.Equal(12, all.Count);
        Assert.Equal(all, paged);
        Assert.Equal(4, pages);
        Assert.Equal(all.Select(s => s.Item2).OrderDescending(), all.Select(s => s.Item2));
    }

    [Fact]
    public async Task DetailedOfOneCodeCoversTheLastThirtyDays()
    {
        var tenant = await service.NewTenantAsync();
        var now = Clock.NowMs();
        var qrId = await ScannedCodeAsync(tenant, now - 1000, now - 20 * Day, now - 45 * Day);

        var body = await tenant.QrApi().GetFromJsonAsync<JsonObject>($"/api/analytics-api/detailed/{qrId}");

        Assert.Equal([now - 1000, now - 20 * Day], body!["data"]!.AsArray().Select(s => (long)s!["scanTime"]!));
        var overview = await ScanTestService.OverviewAsync(tenant, qrId);
        Assert.Equal(3, (long)overview["totalScans"]!);
        Assert.Equal(1, (long)overview["todayScans"]!);
    }

    [Fact]
    public async Task OtherTeamsCodesAreInvisible()
    {
        var owner = await service.NewTenantAsync();
        var stranger = await service.NewTenantAsync();
        var now = Clock.NowMs();
        var qrId = await ScannedCodeAsync(owner, now - 1000);

        await stranger.QrApi().GetAsync($"/api/analytics-api/detailed/{qrId}").ErrorAsync(HttpStatusCode.BadRequest, "Invalid QR ID or unauthorized");
        Assert.Equal(HttpStatusCode.NotFound, (await stranger.QrApi().GetAsync($"/api/analytics-api/breakdown/{qrId}")).StatusCode);
        var (_, overviews) = await PostAsync(stranger.QrApi(), "/api/analytics-api/overviews", new { qrIds = new[] { qrId } });
        Assert.Empty(overviews["data"]!.AsArray());
        var (_, detailed) = await PostAsync(stranger.QrApi(), "/api/analytics-api/detailed/all", new { qrIds = new[] { qrId }, startTime = now - Day, endTime = now });
        Assert.Empty(detailed["data"]!.AsArray());

        // The owner's own call still sees it.
        Assert.Single((await PostAsync(owner.QrApi(), "/api/analytics-api/detailed/all", new { qrIds = new[] { qrId }, startTime = now - Day, endTime = now })).Body["data"]!.AsArray());
    }

    [Fact]
    public async Task ViewerMayReadAnalytics()
    {
        var tenant = await service.NewTenantAsync();
        var qrId = await ScannedCodeAsync(tenant, Clock.NowMs() - 1000);
        var viewer = await tenant.MemberKeyAsync(Role.Viewer);

        var response = await tenant.QrApi(viewer).GetAsync($"/api/analytics-api/detailed/{qrId}");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task AnalyticsNeedCredentials()
    {
        var response = await service.Anonymous().PostAsJsonAsync("/api/analytics-api/overviews", new { qrIds = new[] { "qr_x" } });

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task NeverScannedCodeOfTheTeamHasZeroCounts()
    {
        var tenant = await service.NewTenantAsync();
        var qrId = Ids.New("qr");
        await service.Storage.TeamData.AddEntityAsync(new TableEntity(tenant.TeamId, "qr|" + qrId));

        var overview = await ScanTestService.OverviewAsync(tenant, qrId);
        Assert.Equal(0, (long)overview["totalScans"]!);
        var detailed = await tenant.QrApi().GetFromJsonAsync<JsonObject>($"/api/analytics-api/detailed/{qrId}");
        Assert.Empty(detailed!["data"]!.AsArray());
        await tenant.QrApi().GetAsync($"/api/analytics-api/detailed/{Ids.New("qr")}").ErrorAsync(HttpStatusCode.BadRequest, "Invalid QR ID or unauthorized");
    }

    [Theory]
    [InlineData("from=abc")]
    [InlineData("from=10&to=5")]
    [InlineData("from=0&to=40000000000")]
    public async Task BreakdownRejectsBadWindows(string query)
    {
        var tenant = await service.NewTenantAsync();
        var qrId = await ScannedCodeAsync(tenant, Clock.NowMs() - 1000);

        var response = await tenant.QrApi().GetAsync($"/api/analytics-api/breakdown/{qrId}?{query}");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }
}
