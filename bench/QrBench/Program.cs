// QR listing benchmark against Azurite, in-process (the real app on TestServer, real storage):
//   dotnet run -c Release --project bench/QrBench -- [--codes 100000] [--concurrency 16]
// Creates N codes in one team through POST /api/qrs-api, measures list and search latency percentiles
// at 1,000 codes and at N codes, create throughput, and prints the N/1,000 ratios. Deletes its storage after.
using System.Diagnostics;
using System.Net.Http.Json;
using Microsoft.AspNetCore.TestHost;
using QrFunctions.Auth;
using QrFunctions.Hosting;
using QrFunctions.Organizations;
using QrFunctions.Storage;

var codes = Arg("--codes", 100_000);
var concurrency = Arg("--concurrency", 16);
var prefix = "b" + Ids.Random(8);
var app = DevelopmentServer.Build([$"--Storage:Prefix={prefix}", "--AzureWebJobsStorage=UseDevelopmentStorage=true", "--QrFunctions:LocalQueuePolling=false",
    "--Logging:LogLevel:Default=Warning"], b => b.WebHost.UseTestServer());
var storage = app.Services.GetRequiredService<StorageAccount>();
await storage.CreateAllAsync();
await app.StartAsync();
try
{
    var org = await OrganizationSetup.CreateAsync(storage, app.Services.GetRequiredService<PlanCatalog>(), "Bench", "bench-" + Ids.Random(6), "Enterprise", null, "bench@example.test", null, "bench");
    var client = app.GetTestClient();
    client.DefaultRequestHeaders.Add(AccessPolicy.TeamHeader, org.Team.Id);
    client.DefaultRequestHeaders.Add(AccessPolicy.ClientIdHeader, org.OwnerKey.KeyId);
    client.DefaultRequestHeaders.Add(AccessPolicy.ClientSecretHeader, org.OwnerKey.Secret);

    Console.WriteLine($"QrBench: {codes:N0} codes, {concurrency} concurrent creates, storage prefix {prefix} on Azurite");
    var created = 0;
    var createClock = Stopwatch.StartNew();
    async Task CreateUpToAsync(int target)
    {
        await Parallel.ForEachAsync(Enumerable.Range(created, target - created), new ParallelOptions { MaxDegreeOfParallelism = concurrency }, async (i, ct) =>
        {
            var response = await client.PostAsJsonAsync("/api/qrs-api", new { name = $"Campaign {i:D6} {Words[i % Words.Length]}", qrType = "WEB", qrRedirectUrl = $"https://example.com/{i}" }, ct);
            if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"create {i}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}");
        });
        created = target;
    }

    var small = Math.Min(1_000, codes);
    await CreateUpToAsync(small);
    var atSmall = await MeasureAsync(client);
    await CreateUpToAsync(codes);
    var createSeconds = createClock.Elapsed.TotalSeconds;
    var atLarge = await MeasureAsync(client);

    Console.WriteLine($"create throughput: {codes / createSeconds:N0} codes/s ({codes:N0} in {createSeconds:N0} s, including PNG+SVG rendering and upload)");
    Console.WriteLine($"{"query",-34} {"p50@1k",9} {"p95@1k",9} {"p50@N",9} {"p95@N",9} {"p99@N",9} {"ratio p50",10}");
    foreach (var (name, s) in atSmall)
    {
        var l = atLarge[name];
        Console.WriteLine($"{name,-34} {s.P50,7:F1}ms {s.P95,7:F1}ms {l.P50,7:F1}ms {l.P95,7:F1}ms {l.P99,7:F1}ms {l.P50 / s.P50,9:F2}x");
    }
}
finally
{
    await app.StopAsync();
    await storage.DeleteAllAsync();
}

static async Task<Dictionary<string, (double P50, double P95, double P99)>> MeasureAsync(HttpClient client)
{
    var queries = new Dictionary<string, string>
    {
        // Baseline: a range read returning one row from the same partition (the team's templates). On Azurite it
        // grows with the partition, because Azurite filters in memory rather than using a key index like Azure.
        ["baseline: templates (1-row range)"] = "/api/qr-templates-api",
        ["page 1, updatedAt desc (default)"] = "/api/qrs-api/v2/teams",
        ["page 5, name asc, 20 per page"] = "/api/qrs-api/v2/teams?page=5&limit=20&sortBy=name&sortOrder=asc",
        ["page 1, createdAt asc, 100/page"] = "/api/qrs-api/v2/teams?limit=100&sortBy=createdAt&sortOrder=asc",
        ["search 'campaign 0004' (few hits)"] = "/api/qrs-api/v2/teams?search=campaign%200004",
        ["search 'harbor' (1 in 8 codes)"] = "/api/qrs-api/v2/teams?search=harbor",
    };
    var results = new Dictionary<string, (double, double, double)>();
    foreach (var (name, url) in queries)
    {
        (await client.GetAsync(url)).EnsureSuccessStatusCode(); // warm-up (loads the search list once)
        var samples = new List<double>();
        for (var i = 0; i < 40; i++)
        {
            var clock = Stopwatch.StartNew();
            (await client.GetAsync(url)).EnsureSuccessStatusCode();
            samples.Add(clock.Elapsed.TotalMilliseconds);
        }
        samples.Sort();
        results[name] = (samples[samples.Count / 2], samples[(int)(samples.Count * 0.95)], samples[(int)(samples.Count * 0.99)]);
    }
    return results;
}

int Arg(string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1]) : fallback;
}

partial class Program
{
    private static readonly string[] Words = ["harbor", "summer", "menu", "launch", "coupon", "gallery", "profile", "ticket"];
}
