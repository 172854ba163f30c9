using System.Net;
using System.Net.Sockets;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using QrFunctions.Storage;

namespace QrFunctions.Tests.Infrastructure;

public enum RelayedService { Queue, Table }

/// <summary>
/// A TCP relay in front of one of Azurite's endpoints that passes requests on at once and controls the
/// answers: held until <see cref="Release"/> (a write stays "under way" for as long as a test needs while
/// Azurite really stores it), or lost while <see cref="LoseAnswers"/> is set (Azurite did the write, the
/// caller never hears of it). Loopback only.
/// </summary>
public sealed class StorageRelay : IAsyncDisposable
{
    // Azurite's documented development account: what "UseDevelopmentStorage=true" stands for.
    private const string DevAccount = "devstoreaccount1";
    private const string DevKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Uri _endpoint;
    private readonly string _connectionString;
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _sockets = [];

    /// <param name="holdAnswers">Hold every answer until <see cref="Release"/>; otherwise answers pass (or are lost, see <see cref="LoseAnswers"/>).</param>
    public StorageRelay(string connectionString, RelayedService relayed, bool holdAnswers = true)
    {
        _endpoint = relayed == RelayedService.Queue ? new QueueServiceClient(connectionString).Uri : new TableServiceClient(connectionString).Uri;
        if (!holdAnswers) Release();
        _listener.Start();
        var relay = $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}{_endpoint.AbsolutePath.TrimEnd('/')}";
        // Azure's connection strings are plain key=value pairs (a key's base64 "=" padding must stay unquoted).
        var parts = connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2)).ToDictionary(p => p[0].Trim(), p => p.Length > 1 ? p[1].Trim() : "", StringComparer.OrdinalIgnoreCase);
        if (parts.ContainsKey("UseDevelopmentStorage"))
            parts = new(StringComparer.OrdinalIgnoreCase) { ["DefaultEndpointsProtocol"] = "http", ["AccountName"] = DevAccount, ["AccountKey"] = DevKey };
        parts["BlobEndpoint"] = new BlobServiceClient(connectionString).Uri.AbsoluteUri;
        parts["TableEndpoint"] = relayed == RelayedService.Table ? relay : new TableServiceClient(connectionString).Uri.AbsoluteUri;
        parts["QueueEndpoint"] = relayed == RelayedService.Queue ? relay : new QueueServiceClient(connectionString).Uri.AbsoluteUri;
        _connectionString = string.Join(";", parts.Select(p => p.Key + "=" + p.Value));
        _ = AcceptAsync();
    }

    /// <summary>Storage whose relayed service is reached through the relay; the others directly.</summary>
    public StorageConnection Connection => new(_connectionString, null, null, null, null);

    public void Release() => _released.TrySetResult();

    /// <summary>While set, Azurite's answers are dropped and the caller's connection closed: the request was carried out, the caller sees a network failure.</summary>
    public volatile bool LoseAnswers;

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                var azurite = new TcpClient();
                await azurite.ConnectAsync(_endpoint.Host, _endpoint.Port, _stop.Token);
                lock (_sockets) _sockets.AddRange([client, azurite]);
                _ = PumpAsync(client.GetStream(), azurite.GetStream(), answers: false, client);
                _ = PumpAsync(azurite.GetStream(), client.GetStream(), answers: true, client);
            }
        }
        catch (Exception) when (_stop.IsCancellationRequested)
        {
        }
    }

    private async Task PumpAsync(NetworkStream from, NetworkStream to, bool answers, TcpClient caller)
    {
        try
        {
            if (answers) await _released.Task.WaitAsync(_stop.Token);
            var buffer = new byte[16 * 1024];
            int read;
            while ((read = await from.ReadAsync(buffer, _stop.Token)) > 0)
            {
                if (answers && LoseAnswers)
                {
                    caller.Client.Close();
                    return;
                }
                await to.WriteAsync(buffer.AsMemory(0, read), _stop.Token);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // The test is over or a side closed its connection.
        }
    }

    public ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        lock (_sockets) foreach (var socket in _sockets) socket.Dispose();
        _stop.Dispose();
        return ValueTask.CompletedTask;
    }
}
