// Per-request overhead of the access filter (key check, team/membership lookups, rate limit, metering):
//   dotnet run -c Release --project bench/OverheadBench -- [--requests 3000]
// Runs GET /api/qr-templates-api (one table range read) through the real app, and the same handler on a
// copy of the app whose route group has no access filter (a fixed caller instead), alternating the two in
// one run against the same Azurite, and prints p50/p95 of each and the added latency at p50.
using System.Diagnostics;
using Microsoft.AspNetCore.TestHost;
using QrFunctions;
using QrFunctions.Api;
using QrFunctions.Auth;
using QrFunctions.Organizations;
using QrFunctions.Storage;
using QrFunctions.Templates;

var requests = args.Length > 1 && args[0] == "--requests" ? int.Parse(args[1]) : 3000;
var prefix = "o" + Ids.Random(8);
string[] settings = [$"--Storage:Prefix={prefix}", "--AzureWebJobsStorage=UseDevelopmentStorage=true", "--QrFunctions:LocalQueuePolling=false", "--Logging:LogLevel:Default=Warning"];

var full = AppHost.Build(settings, b => b.WebHost.UseTestServer());
var storage = full.Services.GetRequiredService<StorageAccount>();
await storage.CreateAllAsync();
await full.StartAsync();

// The bare copy: same services and handler, no AccessFilter on the group; the caller is set without any lookup.
var bare = AppHost.Build(settings, b => b.WebHost.UseTestServer(), mapEndpoints: false);
try
{
    var org = await OrganizationSetup.CreateAsync(storage, full.Services.GetRequiredService<PlanCatalog>(), "Bench", "bench-" + Ids.Random(6), "Enterprise", null, "bench@example.test", null, "bench");
    var row = (await storage.Orgs.GetEntityAsync<Organization>(org.Organization.Id, Organization.Row)).Value;
    row.PlanOverrides = """{"requestsPerSecond":1000000,"burst":1000000}"""; // measure the limiter's cost, not its refusals
    await storage.Orgs.UpdateEntityAsync(row, row.ETag);
    var caller = await full.Services.GetRequiredService<AccessFilter>().AuthenticateAsync(RequestWithKey(org));

    var group = bare.MapGroup("/api").WithMetadata(new SurfaceMetadata(ApiSurface.QrApi));
    group.AddEndpointFilter((ctx, next) => { ctx.HttpContext.Items["QrFunctions.Caller"] = caller; return next(ctx); });
    group.MapTemplates();
    await bare.StartAsync();

    var withFilter = full.GetTestClient();
    withFilter.DefaultRequestHeaders.Add(AccessFilter.TeamHeader, org.Team.Id);
    withFilter.DefaultRequestHeaders.Add(AccessFilter.ClientIdHeader, org.OwnerKey.KeyId);
    withFilter.DefaultRequestHeaders.Add(AccessFilter.ClientSecretHeader, org.OwnerKey.Secret);
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
    Console.WriteLine($"same handler, no access filter:   p50 {P(b, .5):F2} ms  p95 {P(b, .95):F2} ms");
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
    context.Request.Headers[AccessFilter.TeamHeader] = org.Team.Id;
    context.Request.Headers[AccessFilter.ClientIdHeader] = org.OwnerKey.KeyId;
    context.Request.Headers[AccessFilter.ClientSecretHeader] = org.OwnerKey.Secret;
    return context;
}
