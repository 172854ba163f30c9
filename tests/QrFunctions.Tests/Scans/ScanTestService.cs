using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Azure.Data.Tables;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using QrFunctions.Analytics;
using QrFunctions.Auth;
using QrFunctions.Hosting;
using QrFunctions.Scans;
using QrFunctions.Storage;
using QrFunctions.Teams;
using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Scans;

/// <summary>
/// TEST DOUBLE ONLY: a stand-in for the real DeviceClassifier (uap-core + isbot) so the pipeline can be tested
/// on its own. It recognises a handful of fixed test User-Agents and nothing else.
/// </summary>
public sealed class FakeScanClients : IScanClientClassifier
{
    public const string IPhone = "TestAgent iPhone";
    public const string Android = "TestAgent Android";
    public const string Desktop = "TestAgent Desktop";
    public const string Crawler = "TestAgent crawler-bot";

    public ScanClient Classify(string? userAgent, string httpMethod) => userAgent switch
    {
        _ when HttpMethods.IsHead(httpMethod) => new ScanClient("bot", "unknown", "unknown", true, "head-request", MobilePlatform.Other),
        IPhone => new ScanClient("mobile", "iOS", "Mobile Safari", false, null, MobilePlatform.Ios),
        Android => new ScanClient("mobile", "Android", "Chrome Mobile", false, null, MobilePlatform.Android),
        Crawler => new ScanClient("bot", "unknown", "unknown", true, "user-agent", MobilePlatform.Other),
        _ => new ScanClient("desktop", "Windows", "Chrome", false, null, MobilePlatform.Other),
    };
}

/// <summary>The app with the test classifier, no route cache (tests change routes between scans) and trusted test edge headers.</summary>
public class ScanTestService : TestService
{
    public const string CountryHeader = "X-Test-Country";
    public const string CityHeader = "X-Test-City";

    protected virtual string CacheSeconds => "0";

    protected override IEnumerable<string> Settings =>
    [
        $"--QrFunctions:ScanCacheSeconds={CacheSeconds}",
        "--QrFunctions:TrustForwardedFor=true",
        $"--QrFunctions:GeoCountryHeader={CountryHeader}",
        $"--QrFunctions:GeoCityHeader={CityHeader}",
    ];

    protected override void ConfigureServices(IServiceCollection services) => services.AddSingleton<IScanClientClassifier, FakeScanClients>();

    /// <summary>Publishes a code as the QR API would: the routes row with the Qr JSON, owned by the tenant's team.</summary>
    public async Task<(string DisplayId, string QrId)> PublishAsync(Tenant tenant, string qrType, JsonObject? fields = null, JsonObject? settings = null,
        string state = QrRoute.States.Live, string? teamId = null, string? displayId = null)
    {
        var qrId = Ids.New("qr");
        displayId ??= "s" + Ids.Random(10);
        var qr = new JsonObject
        {
            ["id"] = qrId, ["displayId"] = displayId, ["name"] = "Test code", ["qrType"] = qrType,
            ["teamId"] = teamId ?? tenant.TeamId, ["orgId"] = tenant.OrgId, ["metadata"] = new JsonObject(),
            ["settings"] = settings ?? new JsonObject(), ["deleted"] = false,
        };
        foreach (var (k, v) in fields ?? []) qr[k] = v?.DeepClone();
        await WriteRouteAsync(displayId, qrId, teamId ?? tenant.TeamId, tenant.OrgId, state, qr);
        return (displayId, qrId);
    }

    public async Task WriteRouteAsync(string displayId, string qrId, string teamId, string orgId, string state, JsonObject qr)
    {
        var row = new TableEntity(displayId, QrRoute.Row) { ["QrId"] = qrId, ["TeamId"] = teamId, ["OrgId"] = orgId, ["State"] = state, ["UpdatedAt"] = Clock.NowMs() };
        EntityJson.Write(row, QrRoute.QrProperty, qr);
        await Storage.Routes.UpsertEntityAsync(row, TableUpdateMode.Replace);
    }

    public async Task UpdateTeamAsync(string teamId, Action<Team> change)
    {
        var team = (await Storage.TeamData.GetEntityAsync<Team>(teamId, Team.Row)).Value;
        change(team);
        await Storage.TeamData.UpdateEntityAsync(team, team.ETag, TableUpdateMode.Replace);
        Get<TenantDirectory>().ForgetTeam(teamId);
    }

    /// <summary>A second aggregator, as on another instance (its own counter group commit).</summary>
    public ScanBatchAggregator NewAggregator() => new(Storage, Get<QrFunctions.Webhooks.WebhookPublisher>(), NullLogger<ScanBatchAggregator>.Instance);

    /// <summary>Runs the queue function until the scan queue is empty, as the poller would.</summary>
    public Task AggregateAsync() => DrainQueueAsync("AggregateScans");

    /// <summary>Every event waiting in the scan queue (peeked, left in place).</summary>
    public async Task<List<ScanEvent>> QueuedEventsAsync()
    {
        var queue = Storage.Queue(Storage.Names.ScanEventsQueue);
        var peeked = await queue.PeekMessagesAsync(32);
        return peeked.Value.SelectMany(m => ScanBatchAggregator.Parse(m.Body.ToString()).Events).ToList();
    }

    public static async Task<JsonObject> OverviewAsync(Tenant tenant, string qrId)
    {
        var response = await tenant.QrApi().PostAsJsonAsync("/api/analytics-api/overviews", new { qrIds = new[] { qrId } });
        response.EnsureSuccessStatusCode();
        var data = (await response.Content.ReadFromJsonAsync<JsonObject>())!["data"]!.AsArray();
        return Assert.Single(data)!.AsObject();
    }
}
