using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Azure.Data.Tables;
using QrFunctions.Auth;
using QrFunctions.Organizations;
using QrFunctions.Scans;
using QrFunctions.Storage;

// seed <prefix>           → creates an org, a team, two live WEB codes; prints "displayIdLoad displayIdE2e qrIdE2e teamId clientId secret"
// e2e <baseUrl> <n> <displayId> <qrId> <teamId> <clientId> <secret> → fires n scans, polls the overview until all are counted
// cleanup <prefix>        → deletes every table/queue/container of the prefix
var connection = new StorageConnection(Environment.GetEnvironmentVariable("AzureWebJobsStorage") ?? StorageConnection.AzuriteConnectionString, null, null, null, null);
switch (args.FirstOrDefault())
{
    case "seed":
    {
        var storage = new StorageAccount(connection, new StorageNames(args[1]));
        var plans = new PlanCatalog(new ConfigurationBuilder().AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json")).Build());
        var org = await OrganizationSetup.CreateAsync(storage, plans, "Bench", "bench-" + Ids.Random(8), "Enterprise", null, "bench@example.test", "Bench", "bench");
        var load = await PublishAsync(storage, org.Organization.Id, org.Team.Id);
        var e2e = await PublishAsync(storage, org.Organization.Id, org.Team.Id);
        Console.WriteLine($"{load.DisplayId} {e2e.DisplayId} {e2e.QrId} {org.Team.Id} {org.OwnerKey.KeyId} {org.OwnerKey.Secret}");
        return 0;
    }
    case "e2e":
    {
        var (baseUrl, n, displayId, qrId, teamId, clientId, secret) = (args[1], int.Parse(args[2]), args[3], args[4], args[5], args[6], args[7]);
        using var http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, MaxConnectionsPerServer = 32 }) { BaseAddress = new Uri(baseUrl) };
        var clock = Stopwatch.StartNew();
        var answered = 0;
        await Parallel.ForAsync(0, n, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (i, ct) =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/" + displayId);
            request.Headers.TryAddWithoutValidation("User-Agent", "ScanBench/" + (i % 50));
            using var response = await http.SendAsync(request, ct);
            if (response.StatusCode == HttpStatusCode.Found) Interlocked.Increment(ref answered);
        });
        var scansDone = clock.Elapsed;
        http.DefaultRequestHeaders.Add(AccessPolicy.TeamHeader, teamId);
        http.DefaultRequestHeaders.Add(AccessPolicy.ClientIdHeader, clientId);
        http.DefaultRequestHeaders.Add(AccessPolicy.ClientSecretHeader, secret);
        long counted = 0;
        while (clock.Elapsed < TimeSpan.FromSeconds(120))
        {
            var body = await (await http.PostAsJsonAsync("/api/analytics-api/overviews", new { qrIds = new[] { qrId } })).Content.ReadFromJsonAsync<JsonObject>();
            counted = body?["data"]?.AsArray().FirstOrDefault()?["totalScans"]?.GetValue<long>() ?? 0;
            if (counted >= answered) break;
            await Task.Delay(100);
        }
        await Task.Delay(1000); // a late double count would show up here
        var body2 = await (await http.PostAsJsonAsync("/api/analytics-api/overviews", new { qrIds = new[] { qrId } })).Content.ReadFromJsonAsync<JsonObject>();
        counted = body2?["data"]?.AsArray().FirstOrDefault()?["totalScans"]?.GetValue<long>() ?? 0;
        Console.WriteLine($"e2e: {n} scans fired, {answered} answered 302 in {scansDone.TotalMilliseconds:F0} ms; all counted after {clock.Elapsed.TotalMilliseconds - 1000:F0} ms; " +
                          $"counted={counted} lost={Math.Max(0, answered - counted)} double={Math.Max(0, counted - answered)}");
        return counted == answered && answered == n ? 0 : 1;
    }
    case "cleanup":
        await new StorageAccount(connection, new StorageNames(args[1])).DeleteAllAsync();
        return 0;
    default:
        Console.Error.WriteLine("usage: ScanBench seed <prefix> | e2e <baseUrl> <n> <displayId> <qrId> <teamId> <clientId> <secret> | cleanup <prefix>");
        return 2;
}

static async Task<(string DisplayId, string QrId)> PublishAsync(StorageAccount storage, string orgId, string teamId)
{
    var qrId = Ids.New("qr");
    var displayId = "b" + Ids.Random(9);
    var qr = new JsonObject { ["id"] = qrId, ["displayId"] = displayId, ["qrType"] = "WEB", ["teamId"] = teamId, ["orgId"] = orgId, ["qrRedirectUrl"] = "https://example.com/landing", ["settings"] = new JsonObject() };
    var row = new TableEntity(displayId, QrRoute.Row) { ["QrId"] = qrId, ["TeamId"] = teamId, ["OrgId"] = orgId, ["State"] = QrRoute.States.Live, ["UpdatedAt"] = Clock.NowMs() };
    EntityJson.Write(row, QrRoute.QrProperty, qr);
    await storage.Routes.UpsertEntityAsync(row);
    return (displayId, qrId);
}
