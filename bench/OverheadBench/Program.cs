// Per-request overhead of the function policy (key check, team/membership lookups, rate limit, metering):
//   dotnet run -c Release --project bench/OverheadBench -- [--requests 3000]
// Runs GET /api/qr-templates-api (one table range read) through the development server (the same FunctionPolicy
// as under the Functions host), and the same function on a bare app that calls it with a fixed caller instead,
// alternating the two in one run against the same Azurite, and prints p50/p95 of each and the added latency at p50.
using System.Diagnostics;
using Microsoft.AspNetCore.TestHost;
using QrFunctions.Auth;
using QrFunctions.Hosting;
using QrFunctions.Organizations;
using QrFunctions.Storage;
using QrFunctions.Templates;

var requests = args.Length > 1 && args[0] == "--requests" ? int.Parse(args[1]) : 3000;
var prefix = "o" + Ids.Random(8);
string[] settings = [$"--Storage:Prefix={prefix}", "--AzureWebJobsStorage=UseDevelopmentStorage=true", "--QrFunctions:LocalQueuePolling=false", "--Logging:LogLevel:Default=Warning"];

var full = DevelopmentServer.Build(settings, b => b.WebHost.UseTestServer());
var storage = full.Services.GetRequiredService<StorageAccount>();
await storage.CreateAllAsync();
await full.StartAsync();

// The bare copy: same services and function, no policy; the caller is set without any lookup.
var bareBuilder = WebApplication.CreateSlimBuilder(settings);
bareBuilder.WebHost.UseTestServer();
bareBuilder.Services.AddQrFunctions(bareBuilder.Configuration);
var bare = bareBuilder.Build();
try
{
    var org = await OrganizationSetup.CreateAsync(storage, full.Services.GetRequiredService<PlanCatalog>(), "Bench", "bench-" + Ids.Random(6), "Enterprise", null, "bench@example.test", null, "bench");
    var row = (await storage.Orgs.GetEntityAsync<Organization>(org.Organization.Id, Organization.Row)).Value;
    row.PlanOverrides = """{"requestsPerSecond":1000000,"burst":1000000}"""; // measure the limiter's cost, not its refusals
    await storage.Orgs.UpdateEntityAsync(row, row.ETag);
    var access = FunctionCatalog.App.FindHttp("TemplatesList")!.Access;
    var caller = await full.Services.GetRequiredService<AccessPolicy>().AuthenticateAsync(RequestWithKey(org).Request, access, _ => null);

    bare.MapGet("/api/qr-templates-api", async (HttpContext context) =>
    {
        context.Items["QrFunctions.Caller"] = caller;
        var result = await ActivatorUtilities.CreateInstance<TemplatesApi>(context.RequestServices).ListAsync(context.Request);
        await result.ExecuteAsync(context);
    });
    await bare.StartAsync();

    var withFilter = full.GetTestClient();
    withFilter.DefaultRequestHeaders.Add(AccessPolicy.TeamHeader, org.Team.Id);
    withFilter.DefaultRequestHeaders.Add(AccessPolicy.ClientIdHeader, org.OwnerKey.KeyId);
    withFilter.DefaultRequestHeaders.Add(AccessPolicy.ClientSecretHeader, org.OwnerKey.Secret);
    var without = bare.GetTestClient();

    for (var i = 0; i < 200; i++) { await Call(withFilter); await Call(without); } // warm-up: JIT, caches, connections
    var a = new List<double>(requests);
    var b = new List<double>(requests);
    for (var i = 0; i < requests; i++)
    {
        a.Add(await Call(withFilter));
        b.Add(await Call(without));
    }
    a.Sort();
    b.Sort();
    double P(List<double> s, double q) => s[(int)(s.Count * q)];
    Console.WriteLine($"{requests} requests each, alternating, GET /api/qr-templates-api on Azurite (prefix {prefix})");
    Console.WriteLine($"with auth + rate limit + metering: p50 {P(a, .5):F2} ms  p95 {P(a, .95):F2} ms");
    Console.WriteLine($"same function, no policy:          p50 {P(b, .5):F2} ms  p95 {P(b, .95):F2} ms");
    Console.WriteLine($"added latency at p50: {(P(a, .5) / P(b, .5) - 1) * 100:F1}%  (ratio {P(a, .5) / P(b, .5):F2})");
}
finally
{
    await bare.DisposeAsync();
    await full.StopAsync();
    await storage.DeleteAllAsync();
}

static async Task<double> Call(HttpClient client)
{
    var clock = Stopwatch.StartNew();
    (await client.GetAsync("/api/qr-templates-api")).EnsureSuccessStatusCode();
    return clock.Elapsed.TotalMilliseconds;
}

static HttpContext RequestWithKey(CreatedOrganization org)
{
    var context = new DefaultHttpContext();
    context.Request.Headers[AccessPolicy.TeamHeader] = org.Team.Id;
    context.Request.Headers[AccessPolicy.ClientIdHeader] = org.OwnerKey.KeyId;
    context.Request.Headers[AccessPolicy.ClientSecretHeader] = org.OwnerKey.Secret;
    return context;
}
