using System.Net;
using System.Net.Sockets;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using QrFunctions.Storage;

namespace QrFunctions.Tests.Infrastructure;

/// <summary>
/// A TCP relay in front of Azurite's queue endpoint that passes requests on at once but holds Azurite's
/// answers until <see cref="Release"/>: a queue write stays "under way" for as long as a test needs, while
/// the message itself is really stored by Azurite. Loopback only.
/// </summary>
public sealed class HeldQueueAnswers : IAsyncDisposable
{
    // Azurite's documented development account: what "UseDevelopmentStorage=true" stands for.
    private const string DevAccount = "devstoreaccount1";
    private const string DevKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Uri _queueEndpoint;
    private readonly string _connectionString;
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _sockets = [];

    public HeldQueueAnswers(string connectionString)
    {
        _queueEndpoint = new QueueServiceClient(connectionString).Uri;
        _listener.Start();
        var relay = $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}{_queueEndpoint.AbsolutePath.TrimEnd('/')}";
        // Azure's connection strings are plain key=value pairs (a key's base64 "=" padding must stay unquoted).
        var parts = connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2)).ToDictionary(p => p[0].Trim(), p => p.Length > 1 ? p[1].Trim() : "", StringComparer.OrdinalIgnoreCase);
        if (parts.ContainsKey("UseDevelopmentStorage"))
            parts = new(StringComparer.OrdinalIgnoreCase) { ["DefaultEndpointsProtocol"] = "http", ["AccountName"] = DevAccount, ["AccountKey"] = DevKey };
        parts["BlobEndpoint"] = new BlobServiceClient(connectionString).Uri.AbsoluteUri;
        parts["TableEndpoint"] = new TableServiceClient(connectionString).Uri.AbsoluteUri;
        parts["QueueEndpoint"] = relay;
        _connectionString = string.Join(";", parts.Select(p => p.Key + "=" + p.Value));
        _ = AcceptAsync();
    }

    /// <summary>Storage whose queues are reached through the relay; tables and blobs directly.</summary>
    public StorageConnection Connection => new(_connectionString, null, null, null, null);

    public void Release() => _released.TrySetResult();

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                var azurite = new TcpClient();
                await azurite.ConnectAsync(_queueEndpoint.Host, _queueEndpoint.Port, _stop.Token);
                lock (_sockets) _sockets.AddRange([client, azurite]);
                _ = PumpAsync(client.GetStream(), azurite.GetStream(), hold: false);
                _ = PumpAsync(azurite.GetStream(), client.GetStream(), hold: true);
            }
        }
        catch (Exception) when (_stop.IsCancellationRequested)
        {
        }
    }

    private async Task PumpAsync(NetworkStream from, NetworkStream to, bool hold)
    {
        try
        {
            if (hold) await _released.Task.WaitAsync(_stop.Token);
            await from.CopyToAsync(to, _stop.Token);
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
