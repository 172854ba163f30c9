using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Azure.Storage.Queues;
using QrFunctions.Storage;

namespace QrFunctions.Scans;

/// <summary>
/// Group commit of scan events: concurrent scans append to one open batch, which becomes ONE queue
/// message when it is full (QrFunctions:ScanBatchMaxEvents, default 100, or ~45,000 bytes of JSON, so
/// its base64 form stays under the queue's 64 KiB), when a writer is free (fewer than
/// QrFunctions:ScanBatchMaxWrites writes under way, default 2; 0 = never early), or at the latest when its
/// window ends (QrFunctions:ScanBatchWindowMs, default 5 ms). So an idle service writes a scan at once, and
/// under load batches grow while writes are under way. Every scan awaits the write of its own batch, so no scan is answered before its event
/// is in the queue; a failed write is retried once, then every scan of the batch fails (the endpoint
/// answers 503 and the scanner retries). Stopping the host flushes the open batch.
/// </summary>
public sealed class ScanEventBatcher : IHostedService
{
    /// <summary>Raw JSON bytes per message: base64 makes it 4/3 larger, 60,000 &lt; 65,536.</summary>
    public const int MaxMessageBytes = 45_000;

    private readonly QueueClient _queue;
    private readonly TimeSpan _window;
    private readonly int _maxEvents;
    private readonly int _maxWrites;
    private int _writing; // writes under way; guarded by _lock
    private readonly ILogger<ScanEventBatcher> _log;
    private readonly Lock _lock = new();
    private readonly ConcurrentDictionary<Batch, Task> _inFlight = new();
    private Batch? _open;
    private bool _stopping;

    public ScanEventBatcher(StorageAccount storage, IConfiguration configuration, ILogger<ScanEventBatcher> log)
    {
        _queue = storage.Queue(storage.Names.ScanEventsQueue);
        _window = TimeSpan.FromMilliseconds(Math.Max(0, configuration.GetValue("QrFunctions:ScanBatchWindowMs", 5.0)));
        _maxEvents = Math.Clamp(configuration.GetValue("QrFunctions:ScanBatchMaxEvents", 100), 1, 1000);
        _maxWrites = Math.Clamp(configuration.GetValue("QrFunctions:ScanBatchMaxWrites", 2), 0, 64);
        _log = log;
    }

    private sealed class Batch
    {
        public readonly string Id = Guid.NewGuid().ToString("N");
        public readonly List<byte[]> Events = [];
        public int Bytes = 40; // {"batchId":"…32…","events":[]}
        public readonly TaskCompletionSource Stored = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Completes when the event's batch is in the queue; throws when it could not be stored.</summary>
    public Task AppendAsync(ScanEvent scan)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(scan, ScanBatch.Json);
        Batch target;
        Batch? ready = null, overflow = null;
        var startWindow = false;
        lock (_lock)
        {
            if (_open is not null && _open.Bytes + bytes.Length + 1 > MaxMessageBytes)
            {
                overflow = _open;
                _open = null;
                _writing++;
            }
            if (_open is null)
            {
                _open = new Batch();
                startWindow = true;
            }
            target = _open;
            target.Events.Add(bytes);
            target.Bytes += bytes.Length + 1;
            if (target.Events.Count >= _maxEvents || _stopping || _window == TimeSpan.Zero || _writing < _maxWrites)
            {
                ready = target;
                _open = null;
                startWindow = false;
                _writing++;
            }
        }
        if (overflow is not null) Flush(overflow);
        if (ready is not null) Flush(ready);
        if (startWindow) _ = FlushAfterWindowAsync(target);
        return target.Stored.Task;
    }

    private async Task FlushAfterWindowAsync(Batch batch)
    {
        await Task.Delay(_window);
        lock (_lock)
        {
            if (!ReferenceEquals(_open, batch)) return; // already flushed: it filled up or a writer took it
            _open = null;
            _writing++;
        }
        Flush(batch);
    }

    /// <summary>Starts writing a batch already counted in _writing; when done, a waiting batch goes out at once.</summary>
    private void Flush(Batch batch)
    {
        var task = WriteThenTakeNextAsync(batch);
        _inFlight[batch] = task;
        _ = task.ContinueWith(_ => _inFlight.TryRemove(batch, out Task? _), TaskScheduler.Default);
    }

    private async Task WriteThenTakeNextAsync(Batch batch)
    {
        await WriteAsync(batch);
        Batch? next = null;
        lock (_lock)
        {
            _writing--;
            if (_open is not null && _writing < _maxWrites)
            {
                next = _open;
                _open = null;
                _writing++;
            }
        }
        if (next is not null) Flush(next);
    }

    private async Task WriteAsync(Batch batch)
    {
        var message = Encode(batch);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await _queue.SendMessageAsync(message, cancellationToken: timeout.Token);
                batch.Stored.TrySetResult();
                return;
            }
            catch (Exception ex) when (attempt < 2)
            {
                _log.LogWarning(ex, "Writing scan batch {BatchId} ({Count} events) failed; retrying once", batch.Id, batch.Events.Count);
            }
            catch (Exception ex)
            {
                _log.LogError(ex, "Scan batch {BatchId} ({Count} events) could not be stored; its scans are answered 503", batch.Id, batch.Events.Count);
                batch.Stored.TrySetException(new ScanNotRecordedException(ex));
                return;
            }
        }
    }

    private static BinaryData Encode(Batch batch)
    {
        using var buffer = new MemoryStream(batch.Bytes + 16);
        buffer.Write("{\"batchId\":\""u8);
        buffer.Write(Encoding.ASCII.GetBytes(batch.Id));
        buffer.Write("\",\"events\":["u8);
        for (var i = 0; i < batch.Events.Count; i++)
        {
            if (i > 0) buffer.WriteByte((byte)',');
            buffer.Write(batch.Events[i]);
        }
        buffer.Write("]}"u8);
        return new BinaryData(buffer.ToArray());
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Writes the open batch now and waits for every write under way, so no answered scan is lost on shutdown.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        Batch? open;
        lock (_lock)
        {
            _stopping = true;
            open = _open;
            _open = null;
            if (open is not null) _writing++;
        }
        if (open is not null) Flush(open);
        await Task.WhenAll(_inFlight.Values).WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }
}

/// <summary>The scan's event could not be written to the queue: the scan must not be answered as served.</summary>
public sealed class ScanNotRecordedException(Exception inner) : Exception("The scan event could not be stored.", inner);
