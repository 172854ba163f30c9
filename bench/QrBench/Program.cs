// QR listing benchmark against Azurite, in-process (the real app on TestServer, real storage, its queue poller running):
//   dotnet run -c Release --project bench/QrBench -- [--codes 100000] [--batch 1000] [--budget-minutes 45]
// Creates N codes in one team through the bulk API (POST /api/qrs-api/bulk, 1,000 codes a batch; the CreateBulkCodes queue
// function creates them, images included, in this same process), measures list, deep-page, search and folderId-filtered
// (one code in ten is in the folder) latency percentiles at 1,000 codes and at N codes against a same-partition one-row
// baseline, bulk-create throughput and this process's peak memory, and prints the N/1,000 ratios. Storage: AzureWebJobsStorage
// if set (a connection string), else the local Azurite.
// Deletes its storage after.
using System.Diagnostics;
using System.Diagnostics.Tracing;
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
                    .Select(i => new
                    {
                        name = $"Campaign {i:D6} {Words[i % Words.Length]}", qrType = "WEB", qrRedirectUrl = $"https://example.com/{i}",
                        folderId = i % 10 == 0 ? PrintFolder : null, // one code in ten is in the print run's folder
                    }).ToList();
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
    await MeasureAsync(client, storage, org.Team.Id); // warm-up: the first pass runs while the code is still being compiled
    var atSmall = await MeasureAsync(client, storage, org.Team.Id);
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
    var atLarge = await MeasureAsync(client, storage, org.Team.Id);

    Console.WriteLine($"bulk create: {codes / createSeconds:N1} codes/s ({codes:N0} in {createSeconds:N0} s, PNG+SVG rendering and upload included; {failed} rows failed)");
    Console.WriteLine($"peak memory of this process while creating: working set {peakWorkingSet / 1024 / 1024:N0} MB, managed heap {peakManaged / 1024 / 1024:N0} MB");
    // Azurite answers every range read by scanning the whole table, point reads from an index: "minus Azurite" takes one
    // baseline (a one-row range read of the same table) per range read the call made, counted from the Azure SDK's events.
    Console.WriteLine($"{"query",-36} {"p50@1k",9} {"p95@1k",9} {"p50@N",9} {"p95@N",9} {"p99@N",9} {"ratio p50",10} {"reads@1k",9} {"reads@N",9} {"ratio minus Azurite",20}");
    var baseline = (Small: atSmall[BaselineName].P50, Large: atLarge[BaselineName].P50);
    foreach (var (name, s) in atSmall)
    {
        var l = atLarge[name];
        var net = name is BaselineName or RawIndexName ? "" : $"{(l.P50 - l.Ranges * baseline.Large) / Math.Max(0.1, s.P50 - s.Ranges * baseline.Small):F2}x";
        Console.WriteLine($"{name,-36} {s.P50,7:F1}ms {s.P95,7:F1}ms {l.P50,7:F1}ms {l.P95,7:F1}ms {l.P99,7:F1}ms {l.P50 / s.P50,9:F2}x " +
            $"{s.Ranges,4}r+{s.Points,-3}p {l.Ranges,4}r+{l.Points,-3}p {net,20}");
    }
    Console.WriteLine("reads: table requests of one call, r = range reads (an Azurite table scan each), p = point reads (indexed)");
    // What page 1 adds to its two range reads (the index read alone, and the counter read as a one-row baseline): its ten point
    // reads and the answer. On Azure the range reads are key-range reads, so this is what grows, if anything, with the team.
    double Own(double page, double raw, double one) => page - raw - one;
    var (p1s, p1l) = (atSmall["page 1, updatedAt desc (default)"].P50, atLarge["page 1, updatedAt desc (default)"].P50);
    var (rs, rl) = (atSmall[RawIndexName].P50, atLarge[RawIndexName].P50);
    Console.WriteLine($"page 1 minus its range reads (raw index read + one baseline): {Own(p1s, rs, baseline.Small):F1} ms at 1k, " +
        $"{Own(p1l, rl, baseline.Large):F1} ms at N ({Own(p1l, rl, baseline.Large) / Math.Max(0.1, Own(p1s, rs, baseline.Small)):F2}x)");
}
finally
{
    Volatile.Write(ref sampling, false);
    await app.StopAsync();
    await storage.DeleteAllAsync();
}

static async Task<Dictionary<string, (double P50, double P95, double P99, int Ranges, int Points)>> MeasureAsync(HttpClient client, StorageAccount storage, string teamId)
{
    var queries = new Dictionary<string, Func<Task>>
    {
        // Baseline: a range read returning one row from the same partition (the team's templates). On Azurite it
        // grows with the partition, because Azurite filters in memory rather than using a key index like Azure.
        [BaselineName] = Get("/api/qr-templates-api"),
        // The range read page 1 makes, alone: on Azurite its cost also grows with the rows it matches (the whole index).
        [RawIndexName] = async () =>
        {
            await foreach (var _ in storage.TeamData.QueryAsync<Azure.Data.Tables.TableEntity>(
                TableQueries.PrefixFilter(teamId, QrKeys.IndexOf(null, "updatedAt", "desc")), maxPerPage: 10, select: ["RowKey"]).AsPages()) break;
        },
        ["page 1, updatedAt desc (default)"] = Get("/api/qrs-api/v2/teams"),
        ["deep page 50 x 20, name asc"] = Get("/api/qrs-api/v2/teams?page=50&limit=20&sortBy=name&sortOrder=asc"),
        ["page 1, createdAt asc, 100/page"] = Get("/api/qrs-api/v2/teams?limit=100&sortBy=createdAt&sortOrder=asc"),
        ["search 'campaign 0004' (few hits)"] = Get("/api/qrs-api/v2/teams?search=campaign%200004"),
        ["search 'harbor' (1 in 8 codes)"] = Get("/api/qrs-api/v2/teams?search=harbor"),
        ["folderId page 1 (1 in 10 codes)"] = Get($"/api/qrs-api/v2/teams?folderId={PrintFolder}"),
        ["folderId deep page 5 x 20, name asc"] = Get($"/api/qrs-api/v2/teams?folderId={PrintFolder}&page=5&limit=20&sortBy=name&sortOrder=asc"),
    };
    var results = new Dictionary<string, (double, double, double, int, int)>();
    Func<Task> Get(string url) => async () => (await client.GetAsync(url)).EnsureSuccessStatusCode();
    foreach (var (name, call) in queries)
    {
        await call(); // warm-up (loads the search list once)
        var samples = new List<double>();
        for (var i = 0; i < 40; i++)
        {
            var clock = Stopwatch.StartNew();
            await call();
            samples.Add(clock.Elapsed.TotalMilliseconds);
        }
        samples.Sort();
        // Counted apart from the timed calls (listening costs time); the fewest of three, as background work may read meanwhile.
        var reads = new List<(int Ranges, int Points)>();
        for (var i = 0; i < 3; i++)
        {
            using var counter = new TableReadCounter();
            await call();
            reads.Add((counter.Ranges, counter.Points));
        }
        var fewest = reads.MinBy(r => r.Ranges + r.Points);
        results[name] = (samples[samples.Count / 2], samples[(int)(samples.Count * 0.95)], samples[(int)(samples.Count * 0.99)], fewest.Ranges, fewest.Points);
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
    private const string PrintFolder = "spring-print";
    private const string RawIndexName = "raw: page 1's index range read";
    private const string BaselineName = "baseline: templates (1-row range)";
    private static readonly string[] Words = ["harbor", "summer", "menu", "launch", "coupon", "gallery", "profile", "ticket"];
}

/// <summary>Counts the table reads (GETs to the table endpoint) the Azure SDK sends while it exists, from its "Azure-Core" events.</summary>
sealed class TableReadCounter : EventListener
{
    private int ranges, points;
    public int Ranges => Volatile.Read(ref ranges);
    public int Points => Volatile.Read(ref points);

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == "Azure-Core") EnableEvents(source, EventLevel.Informational);
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (e.EventName != "Request" || e.PayloadNames is null) return;
        var method = e.Payload![e.PayloadNames.IndexOf("method")] as string;
        var uri = e.Payload[e.PayloadNames.IndexOf("uri")] as string ?? "";
        if (method != "GET" || !uri.Contains(":10002/", StringComparison.Ordinal) && !uri.Contains(".table.", StringComparison.Ordinal)) return;
        if (uri.Contains("(PartitionKey=", StringComparison.Ordinal)) Interlocked.Increment(ref points);
        else Interlocked.Increment(ref ranges);
    }
}
