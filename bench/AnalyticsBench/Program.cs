// Detailed analytics over the public client's year-long example against Azurite, in-process (the development server on TestServer):
//   dotnet run -c Release --project bench/AnalyticsBench -- [--scans-per-day 20] [--codes 3] [--runs 15]
// Aggregates a year of scans of a few codes through the real aggregator (one batch per day), then times
// POST /api/analytics-api/detailed/all for the whole year (first page of 1,000, and every page) against the same
// request for one day in the same run. A page's cost should follow the scans it returns, not the days in the range.
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.TestHost;
using QrFunctions.Analytics;
using QrFunctions.Auth;
using QrFunctions.Hosting;
using QrFunctions.Organizations;
using QrFunctions.Scans;
using QrFunctions.Storage;

var perDay = Arg("--scans-per-day", 20);
var codeCount = Arg("--codes", 3);
var runs = Arg("--runs", 15);
var prefix = "a" + Ids.Random(8).ToLowerInvariant().Replace('_', 'x');
var app = DevelopmentServer.Build([$"--Storage:Prefix={prefix}", "--AzureWebJobsStorage=UseDevelopmentStorage=true", "--QrFunctions:LocalQueuePolling=false",
    "--Logging:LogLevel:Default=Warning", "--Webhooks:SecretKeys:1=" + Convert.ToBase64String(new byte[32]), "--Webhooks:SecretKeyId=1"], b => b.WebHost.UseTestServer());
var storage = app.Services.GetRequiredService<StorageAccount>();
string teamId = "", orgId = "";
await storage.CreateAllAsync();
await app.StartAsync();
try
{
    var org = await OrganizationSetup.CreateAsync(storage, app.Services.GetRequiredService<PlanCatalog>(), "Bench", "bench-" + Ids.Random(6).ToLowerInvariant().Replace('_', 'x'),
        "Enterprise", null, "bench@example.test", null, "bench");
    (teamId, orgId) = (org.Team.Id, org.Organization.Id);
    var client = app.GetTestClient();
    client.DefaultRequestHeaders.Add(AccessPolicy.TeamHeader, org.Team.Id);
    client.DefaultRequestHeaders.Add(AccessPolicy.ClientIdHeader, org.OwnerKey.KeyId);
    client.DefaultRequestHeaders.Add(AccessPolicy.ClientSecretHeader, org.OwnerKey.Secret);
    var codes = new List<string>();
    for (var i = 0; i < codeCount; i++)
    {
        var created = await client.PostAsJsonAsync("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = $"https://example.com/{i}" });
        codes.Add((await created.Content.ReadFromJsonAsync<JsonObject>())!["data"]!["id"]!.GetValue<string>());
    }

    const long Day = 86_400_000L;
    var now = Clock.NowMs();
    var aggregator = app.Services.GetRequiredService<ScanBatchAggregator>();
    var clock = Stopwatch.StartNew();
    // One batch per code and day; each batch also holds a scan of now, as a batch the aggregator accepts is recent.
    for (var day = 0; day < 366; day++)
        foreach (var code in codes)
        {
            var events = Enumerable.Range(0, perDay).Select(s => Event(code, now - day * Day - s * 1000L)).Append(Event(code, now - day)).ToList();
            await aggregator.AggregateAsync(JsonSerializer.Serialize(new ScanBatch { BatchId = Guid.NewGuid().ToString("N"), Events = events }, ScanBatch.Json), CancellationToken.None);
        }
    var total = 366 * codeCount * (perDay + 1);
    Console.WriteLine($"AnalyticsBench: {codeCount} codes, {total:N0} scans over 366 days aggregated in {clock.Elapsed.TotalSeconds:F0} s (prefix {prefix})");

    async Task<(double Ms, int Scans, int Pages)> TimeAsync(long from, long to, bool allPages)
    {
        var sw = Stopwatch.StartNew();
        string? cursor = null;
        int scans = 0, pages = 0;
        do
        {
            var response = await client.PostAsJsonAsync("/api/analytics-api/detailed/all", new { qrIds = codes, startTime = from, endTime = to, limit = 1000, cursor });
            var body = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
            if (!response.IsSuccessStatusCode) throw new InvalidOperationException(body.ToJsonString());
            scans += body["data"]!.AsArray().Count;
            pages++;
            cursor = (string?)body["nextCursor"];
        } while (allPages && cursor is not null);
        return (sw.Elapsed.TotalMilliseconds, scans, pages);
    }

    var dayRuns = new List<double>();
    var yearFirst = new List<double>();
    var yearAll = new List<(double Ms, int Scans, int Pages)>();
    for (var r = 0; r < runs + 2; r++) // two warm-up rounds
    {
        var d = await TimeAsync(now - Day, now, allPages: false);
        var y = await TimeAsync(now - 366 * Day, now, allPages: false);
        var a = await TimeAsync(now - 366 * Day, now, allPages: true);
        if (r < 2) continue;
        dayRuns.Add(d.Ms);
        yearFirst.Add(y.Ms);
        yearAll.Add(a);
    }
    double P50(List<double> v) => v.Order().ElementAt(v.Count / 2);
    Console.WriteLine($"one day, first page:        p50 {P50(dayRuns):F0} ms");
    Console.WriteLine($"a whole year, first page:   p50 {P50(yearFirst):F0} ms  (ratio to one day {P50(yearFirst) / P50(dayRuns):F2})");
    Console.WriteLine($"a whole year, every page:   p50 {P50(yearAll.Select(x => x.Ms).ToList()):F0} ms for {yearAll[0].Scans:N0} scans in {yearAll[0].Pages} pages of 1,000 " +
        $"({P50(yearAll.Select(x => x.Ms / x.Pages).ToList()):F0} ms per page)");
}
finally
{
    await app.StopAsync();
    await storage.DeleteAllAsync();
}

ScanEvent Event(string qrId, long time) => new()
{
    QrId = qrId, TeamId = teamId, OrgId = orgId, ScanTime = time, Device = "mobile", Os = "iOS", Browser = "Safari", IpAddress = "203.0.113.0",
    VisitorHash = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()),
};

int Arg(string name, int fallback) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1]) : fallback;
