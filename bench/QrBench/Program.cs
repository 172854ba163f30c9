// QR listing benchmark against Azurite, in-process (the real app on TestServer, real storage, its queue poller running):
//   dotnet run -c Release --project bench/QrBench -- [--codes 100000] [--batch 1000] [--budget-minutes 45]
// Creates N codes in one team through the bulk API (POST /api/qrs-api/bulk, 1,000 codes a batch; the CreateBulkCodes queue
// function creates them, images included, in this same process), measures list, deep-page and search latency percentiles at
// 1,000 codes and at N codes against a same-partition one-row baseline, bulk-create throughput and this process's peak
// memory, and prints the N/1,000 ratios. Storage: AzureWebJobsStorage if set (a connection string), else the local Azurite.
// Deletes its storage after.
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.TestHost;
using QrFunctions.Auth;
using QrFunctions.Hosting;
using QrFunctions.Organizations;
using QrFunctions.Qrs;
using QrFunctions.Storage;

var codes = Arg("--codes", 100_000);
var batchSize = Arg("--batch", 1_000);
var budgetMinutes = Arg("--budget-minutes", 45);
var connection = Environment.GetEnvironmentVariable("AzureWebJobsStorage") is { Length: > 0 } cs ? cs : "UseDevelopmentStorage=true";
var prefix = "b" + Ids.Random(8);
var app = DevelopmentServer.Build([$"--Storage:Prefix={prefix}", $"--AzureWebJobsStorage={connection}", "--QrFunctions:LocalQueuePolling=true",
    "--Logging:LogLevel:Default=Warning",
    $"--Webhooks:SecretKeys:bench={Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32))}"], b => b.WebHost.UseTestServer());
var storage = app.Services.GetRequiredService<StorageAccount>();
await storage.CreateAllAsync();
await app.StartAsync();

// Peak memory of this process (the one doing the work: API, queue function, rendering), sampled while codes are created.
long peakWorkingSet = 0, peakManaged = 0;
var sampling = true;
var sampler = Task.Run(async () =>
{
    using var self = Process.GetCurrentProcess();
    while (Volatile.Read(ref sampling))
    {
        self.Refresh();
        peakWorkingSet = Math.Max(peakWorkingSet, self.WorkingSet64);
        peakManaged = Math.Max(peakManaged, GC.GetTotalMemory(false));
        await Task.Delay(250);
    }
});
try
{
    var org = await OrganizationSetup.CreateAsync(storage, app.Services.GetRequiredService<PlanCatalog>(), "Bench", "bench-" + Ids.Random(6), "Enterprise",
        null, "bench@example.test", null, "bench");
    var client = app.GetTestClient();
    client.Timeout = TimeSpan.FromMinutes(10);
    client.DefaultRequestHeaders.Add(AccessPolicy.TeamHeader, org.Team.Id);
    client.DefaultRequestHeaders.Add(AccessPolicy.ClientIdHeader, org.OwnerKey.KeyId);
    client.DefaultRequestHeaders.Add(AccessPolicy.ClientSecretHeader, org.OwnerKey.Secret);
    var store = app.Services.GetRequiredService<QrStore>();

    Console.WriteLine($"QrBench: {codes:N0} codes in batches of {batchSize:N0} through POST /api/qrs-api/bulk, storage prefix {prefix}, {Environment.ProcessorCount} cores");
    var created = 0;
    var batches = new List<string>();
    double createSeconds = 0;
    // Batches are sent two ahead of what is created (a client feeding a print run), and no more once the budget is spent: then
    // the run measures at the codes it has, and says so.
    var budget = Stopwatch.StartNew();
    async Task<int> CreateUpToAsync(int target)
    {
        var clock = Stopwatch.StartNew();
        var submitted = created;
        var lastReport = clock.Elapsed;
        double accepting = 0;
        int count;
        while ((count = await store.CountAsync(org.Team.Id, CancellationToken.None)) < submitted || submitted < target)
        {
            if (submitted < target && submitted - count < 2 * batchSize && budget.Elapsed.TotalMinutes < budgetMinutes)
            {
                var accept = Stopwatch.StartNew();
                var rows = Enumerable.Range(submitted, Math.Min(batchSize, target - submitted))
                    .Select(i => new { name = $"Campaign {i:D6} {Words[i % Words.Length]}", qrType = "WEB", qrRedirectUrl = $"https://example.com/{i}" }).ToList();
                var response = await client.PostAsJsonAsync("/api/qrs-api/bulk", new { codes = rows });
                if (response.StatusCode != HttpStatusCode.Accepted) throw new InvalidOperationException($"bulk: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                batches.Add(JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("data").GetProperty("batchId").GetString()!);
                submitted += rows.Count;
                accepting += accept.Elapsed.TotalSeconds;
                continue;
            }
            if (submitted < target && budget.Elapsed.TotalMinutes >= budgetMinutes && count >= submitted) break;
            if (clock.Elapsed - lastReport > TimeSpan.FromSeconds(30))
            {
                lastReport = clock.Elapsed;
                Console.WriteLine($"  {count:N0} of {target:N0} codes after {clock.Elapsed.TotalSeconds:N0} s ({(count - created) / clock.Elapsed.TotalSeconds:N1} codes/s)");
            }
            // Not more often: the counter read is a partition query, which Azurite answers by scanning the table.
            await Task.Delay(5000);
        }
        createSeconds += clock.Elapsed.TotalSeconds;
        Console.WriteLine($"  {count:N0} codes: {count - created:N0} created in {clock.Elapsed.TotalSeconds:N0} s ({(count - created) / clock.Elapsed.TotalSeconds:N1} codes/s; accepting the batches took {accepting:N1} s)"
            + (count < target ? $" -- stopped at the {budgetMinutes}-minute budget" : ""));
        created = count;
        return count;
    }

    var small = Math.Min(1_000, codes);
    await CreateUpToAsync(small);
    var atSmall = await MeasureAsync(client);
    codes = await CreateUpToAsync(codes);
    Volatile.Write(ref sampling, false);
    await sampler;
    var failed = 0;
    foreach (var batchId in batches)
    {
        var status = JsonDocument.Parse(await client.GetStringAsync($"/api/qrs-api/bulk/{batchId}")).RootElement.GetProperty("data");
        if (status.GetProperty("status").GetString() != "finished") throw new InvalidOperationException($"batch {batchId} is {status.GetProperty("status")}");
        failed += status.GetProperty("failed").GetInt32();
    }
    var atLarge = await MeasureAsync(client);

    Console.WriteLine($"bulk create: {codes / createSeconds:N1} codes/s ({codes:N0} in {createSeconds:N0} s, PNG+SVG rendering and upload included; {failed} rows failed)");
    Console.WriteLine($"peak memory of this process while creating: working set {peakWorkingSet / 1024 / 1024:N0} MB, managed heap {peakManaged / 1024 / 1024:N0} MB");
    Console.WriteLine($"{"query",-36} {"p50@1k",9} {"p95@1k",9} {"p50@N",9} {"p95@N",9} {"p99@N",9} {"ratio p50",10} {"ratio minus baseline",21}");
    var baseline = (Small: atSmall[BaselineName].P50, Large: atLarge[BaselineName].P50);
    foreach (var (name, s) in atSmall)
    {
        var l = atLarge[name];
        var net = name == BaselineName ? "" : $"{(l.P50 - baseline.Large) / Math.Max(0.1, s.P50 - baseline.Small):F2}x";
        Console.WriteLine($"{name,-36} {s.P50,7:F1}ms {s.P95,7:F1}ms {l.P50,7:F1}ms {l.P95,7:F1}ms {l.P99,7:F1}ms {l.P50 / s.P50,9:F2}x {net,21}");
    }
    Console.WriteLine("folderId-filtered list: not measured (the list has no folderId filter in this build).");
}
finally
{
    Volatile.Write(ref sampling, false);
    await app.StopAsync();
    await storage.DeleteAllAsync();
}

static async Task<Dictionary<string, (double P50, double P95, double P99)>> MeasureAsync(HttpClient client)
{
    var queries = new Dictionary<string, string>
    {
        // Baseline: a range read returning one row from the same partition (the team's templates). On Azurite it
        // grows with the partition, because Azurite filters in memory rather than using a key index like Azure.
        [BaselineName] = "/api/qr-templates-api",
        ["page 1, updatedAt desc (default)"] = "/api/qrs-api/v2/teams",
        ["deep page 50 x 20, name asc"] = "/api/qrs-api/v2/teams?page=50&limit=20&sortBy=name&sortOrder=asc",
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
    private const string BaselineName = "baseline: templates (1-row range)";
    private static readonly string[] Words = ["harbor", "summer", "menu", "launch", "coupon", "gallery", "profile", "ticket"];
}
