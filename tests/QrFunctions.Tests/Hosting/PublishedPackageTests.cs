using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using QrFunctions.Auth;
using QrFunctions.Hosting;
using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Hosting;

/// <summary>
/// Builds the zip Flex Consumption deploys (./publish.sh), unpacks it and starts the executable the way
/// the Functions host does: FUNCTIONS_CUSTOMHANDLER_PORT set, "/" probed until it answers; then one proxied
/// HTTP request and one queue invocation payload.
/// </summary>
public class PublishedPackageTests(TestService service) : IClassFixture<TestService>
{
    [Fact]
    public async Task TheZipHoldsTheHostFilesAndAnExecutableThatServesHttpAndQueueInvocations()
    {
        var work = Directory.CreateTempSubdirectory("package").FullName;
        Process? app = null;
        try
        {
            await RunAsync("bash", [Path.Combine(RepoPaths.Root, "publish.sh"), work], RepoPaths.Root);
            var zipPath = Path.Combine(work, "qrfunctions.zip");

            using (var zip = ZipFile.OpenRead(zipPath))
            {
                Assert.NotNull(zip.GetEntry("host.json"));
                var exe = zip.GetEntry(FunctionManifest.ExecutableName);
                Assert.NotNull(exe);
                Assert.True(((exe.ExternalAttributes >> 16) & 0b001_001_001) != 0, "the executable lost its execute bit in the zip");
                foreach (var trigger in Triggers.All) Assert.NotNull(zip.GetEntry($"{trigger.Name}/function.json"));
                Assert.NotNull(zip.GetEntry("TemplatesList/function.json"));
            }

            var root = Path.Combine(work, "unpacked");
            await RunAsync("unzip", ["-q", zipPath, "-d", root], work);
            var port = FreePort();
            app = Process.Start(new ProcessStartInfo(Path.Combine(root, FunctionManifest.ExecutableName))
            {
                WorkingDirectory = root,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                Environment =
                {
                    ["FUNCTIONS_CUSTOMHANDLER_PORT"] = port.ToString(),
                    ["AzureWebJobsStorage"] = Environment.GetEnvironmentVariable("AzureWebJobsStorage") ?? "UseDevelopmentStorage=true",
                    ["Storage__Prefix"] = service.Prefix,
                    ["QrFunctions__LocalQueuePolling"] = "false",
                },
            })!;
            app.OutputDataReceived += (_, _) => { };
            app.ErrorDataReceived += (_, _) => { };
            app.BeginOutputReadLine();
            app.BeginErrorReadLine();

            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
            await WaitUntilAnswersAsync(http, app);

            var tenant = await service.NewTenantAsync();
            var request = new HttpRequestMessage(HttpMethod.Get, "api/qr-templates-api");
            request.Headers.Add(AccessFilter.TeamHeader, tenant.TeamId);
            request.Headers.Add(AccessFilter.ClientIdHeader, tenant.OwnerKey.KeyId);
            request.Headers.Add(AccessFilter.ClientSecretHeader, tenant.OwnerKey.Secret);
            var proxied = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, proxied.StatusCode);
            Assert.Contains("\"success\":true", await proxied.Content.ReadAsStringAsync());

            // A queue invocation as the host sends it: an (empty) scan batch completes with 200 and the host's
            // response shape; a message the handler cannot read fails with a non-2xx so the host retries it.
            var batch = JsonSerializer.Serialize(new { batchId = Guid.NewGuid().ToString("N"), events = Array.Empty<object>() });
            var invocation = await http.PostAsync("AggregateScans", HostPayload(batch));
            Assert.Equal(HttpStatusCode.OK, invocation.StatusCode);
            var answer = JsonDocument.Parse(await invocation.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal(JsonValueKind.Object, answer.GetProperty("Outputs").ValueKind);
            Assert.Equal(JsonValueKind.Array, answer.GetProperty("Logs").ValueKind);
            Assert.Equal(JsonValueKind.Null, answer.GetProperty("ReturnValue").ValueKind);
            var broken = await http.PostAsync("AggregateScans", HostPayload("not a batch"));
            Assert.False(broken.IsSuccessStatusCode);
        }
        finally
        {
            if (app is { HasExited: false }) { app.Kill(entireProcessTree: true); await app.WaitForExitAsync(); }
            Directory.Delete(work, recursive: true);
        }
    }

    private static StringContent HostPayload(string message) => new(JsonSerializer.Serialize(new
    {
        Data = new { message },
        Metadata = new { DequeueCount = 1, Id = Guid.NewGuid().ToString(), sys = new { MethodName = "AggregateScans", UtcNow = DateTime.UtcNow } },
    }), Encoding.UTF8, "application/json");

    private static async Task WaitUntilAnswersAsync(HttpClient http, Process app)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            Assert.False(app.HasExited, "the executable exited before answering");
            try
            {
                if ((await http.GetAsync("")).IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            await Task.Delay(100);
        }
        Assert.Fail("the executable did not answer / within 60 s");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task RunAsync(string file, string[] args, string cwd)
    {
        var psi = new ProcessStartInfo(file) { WorkingDirectory = cwd, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)} failed ({p.ExitCode}):\n{await stdout}\n{await stderr}");
    }
}
