// What a password costs a scan: PBKDF2-HMAC-SHA256 at QrPasswords.Iterations, on its own and as a whole
// POST /{displayId}/unlock through the development server, next to an unprotected scan of the same kind:
//   dotnet run -c Release --project bench/UnlockBench -- [--requests 200]
// Needs Azurite on 127.0.0.1:10000-10002 (./run.sh or ./test.sh starts one); uses its own storage prefix.
using System.Diagnostics;
using System.Net.Http.Json;
using Microsoft.AspNetCore.TestHost;
using QrFunctions.Auth;
using QrFunctions.Hosting;
using QrFunctions.Organizations;
using QrFunctions.Qrs;
using QrFunctions.Storage;

var requests = args.Length > 1 && args[0] == "--requests" ? int.Parse(args[1]) : 200;
var prefix = "u" + Ids.Random(8);
string[] settings = [$"--Storage:Prefix={prefix}", "--AzureWebJobsStorage=UseDevelopmentStorage=true", "--QrFunctions:LocalQueuePolling=false", "--Logging:LogLevel:Default=Warning"];
var app = DevelopmentServer.Build(settings, b => b.WebHost.UseTestServer());
var storage = app.Services.GetRequiredService<StorageAccount>();
await storage.CreateAllAsync();
await app.StartAsync();
try
{
    var org = await OrganizationSetup.CreateAsync(storage, app.Services.GetRequiredService<PlanCatalog>(), "Bench", "bench-" + Ids.Random(6), "Enterprise", null, "bench@example.test", null, "bench");
    var api = app.GetTestClient();
    api.DefaultRequestHeaders.Add(AccessPolicy.TeamHeader, org.Team.Id);
    api.DefaultRequestHeaders.Add(AccessPolicy.ClientIdHeader, org.OwnerKey.KeyId);
    api.DefaultRequestHeaders.Add(AccessPolicy.ClientSecretHeader, org.OwnerKey.Secret);
    async Task<string> CodeAsync(object settings)
    {
        var response = await api.PostAsJsonAsync("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://example.com/", settings });
        var body = await response.EnsureSuccessStatusCode().Content.ReadFromJsonAsync<System.Text.Json.JsonElement>();
        return body.GetProperty("data").GetProperty("displayId").GetString()!;
    }
    var locked = await CodeAsync(new { passwordEnabled = true, password = "correct horse" });
    var open = await CodeAsync(new { });
    var scans = app.GetTestClient();
    scans.BaseAddress = new Uri("http://127.0.0.1/");

    var hash = QrPasswords.Hash("correct horse");
    var verify = await Measure(requests, () => { if (!QrPasswords.Verify("correct horse", hash)) throw new InvalidOperationException(); return Task.CompletedTask; });
    var unlock = await Measure(requests, async () =>
    {
        var r = await scans.PostAsync($"/{locked}/unlock", new FormUrlEncodedContent([new("password", "correct horse")]));
        if ((int)r.StatusCode != 302) throw new InvalidOperationException($"unlock answered {(int)r.StatusCode}");
    });
    var plain = await Measure(requests, async () =>
    {
        var r = await scans.GetAsync($"/{open}");
        if ((int)r.StatusCode != 302) throw new InvalidOperationException($"scan answered {(int)r.StatusCode}");
    });
    // CPU time is what a busy machine does not inflate as much as wall-clock time: the cost of one derivation itself.
    var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
    for (var i = 0; i < 50; i++) QrPasswords.Verify("correct horse", hash);
    var cpuPerVerify = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalMilliseconds / 50;
    Console.WriteLine($"PBKDF2-HMAC-SHA256, {QrPasswords.Iterations:N0} iterations, {requests} runs each, {Environment.ProcessorCount} cores, load average {(File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?")}");
    Console.WriteLine($"QrPasswords.Verify CPU time:     {cpuPerVerify:F1} ms");
    Console.WriteLine($"QrPasswords.Verify:              {verify}");
    Console.WriteLine($"POST /{{displayId}}/unlock (302): {unlock}");
    Console.WriteLine($"GET /{{displayId}} unprotected:   {plain}");
}
finally
{
    await app.StopAsync();
    await storage.DeleteAllAsync();
}

static async Task<string> Measure(int runs, Func<Task> call)
{
    for (var i = 0; i < 5; i++) await call(); // warm-up: JIT, caches
    var times = new List<double>(runs);
    for (var i = 0; i < runs; i++)
    {
        var clock = Stopwatch.StartNew();
        await call();
        times.Add(clock.Elapsed.TotalMilliseconds);
    }
    times.Sort();
    return $"p50 {times[runs / 2]:F1} ms  p95 {times[(int)(runs * .95)]:F1} ms";
}
