using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using QrFunctions.Hosting;
using QrFunctions.Storage;

namespace QrFunctions.Tests.Infrastructure;

/// <summary>
/// The built service executable (the development server: Kestrel on a free 127.0.0.1 port, queues polled) as a real
/// process, against the test class's storage prefix, so a test can kill it the way a crash would. Disposing kills it.
/// </summary>
public sealed class ServiceProcess : IDisposable
{
    private readonly Process _process;
    private readonly Queue<string> _output = new();

    public int Port { get; }
    public Uri BaseAddress => new($"http://127.0.0.1:{Port}/");

    /// <summary>The app's executable as the test build copied it beside the app assembly (the same build the in-memory tests use).</summary>
    public static string Executable => Path.Combine(Path.GetDirectoryName(typeof(DevelopmentServer).Assembly.Location)!, "QrFunctions");

    private ServiceProcess(string prefix, IEnumerable<string> settings)
    {
        Port = FreePort();
        var start = new ProcessStartInfo(Executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(Executable)!,
        };
        string[] args =
        [
            $"--PORT={Port}",
            $"--Storage:Prefix={prefix}",
            $"--AzureWebJobsStorage={Environment.GetEnvironmentVariable("AzureWebJobsStorage") ?? StorageConnection.AzuriteConnectionString}",
            "--QrFunctions:LocalQueuePolling=true",
            $"--QrFunctions:PublicBaseUrl=http://127.0.0.1:{Port}/",
            "--Logging:LogLevel:Default=Warning",
            .. settings,
        ];
        foreach (var a in args) start.ArgumentList.Add(a);
        _process = new Process { StartInfo = start };
        _process.OutputDataReceived += (_, e) => Keep(e.Data);
        _process.ErrorDataReceived += (_, e) => Keep(e.Data);
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>Starts the executable and waits (bounded, not timed) until it answers HTTP.</summary>
    public static async Task<ServiceProcess> StartAsync(string prefix, params string[] settings)
    {
        var service = new ServiceProcess(prefix, settings);
        try
        {
            using var http = new HttpClient { BaseAddress = service.BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (true)
            {
                if (service._process.HasExited) throw new InvalidOperationException($"The service exited with {service._process.ExitCode} before answering.\n{service.Output}");
                try
                {
                    if ((await http.GetAsync("openapi/v1.json")).StatusCode == HttpStatusCode.OK) return service;
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException) { }
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"The service did not answer within 60 s.\n{service.Output}");
                await Task.Delay(100);
            }
        }
        catch
        {
            service.Dispose();
            throw;
        }
    }

    /// <summary>SIGKILL: no shutdown hooks, no flush, open connections cut, as a crashed or evicted instance.</summary>
    public void KillHard()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    /// <summary>The last lines the process wrote (for failure messages).</summary>
    public string Output
    {
        get { lock (_output) return string.Join("\n", _output); }
    }

    private void Keep(string? line)
    {
        if (line is null) return;
        lock (_output)
        {
            _output.Enqueue(line);
            while (_output.Count > 200) _output.Dequeue();
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        try { KillHard(); }
        catch (InvalidOperationException) { } // never started
        _process.Dispose();
    }
}
