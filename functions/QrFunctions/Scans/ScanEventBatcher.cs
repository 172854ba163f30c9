using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Azure.Storage.Queues;
using QrFunctions.Storage;

namespace QrFunctions.Scans;

/// <summary>
/// Group commit of scan events: concurrent scans append to one open batch, which is written when it is
/// full (QrFunctions:ScanBatchMaxEvents, default and maximum 500), when a writer is free (fewer than
/// QrFunctions:ScanBatchMaxWrites writes under way, default 1; 0 = never early) and it holds as many scans
/// as last waited on storage together, or once its window has ended (QrFunctions:ScanBatchWindowMs, default
/// 2 ms): at once if no write is under way, else when that write finishes (or stalls). So an idle service
/// writes a scan at once, and under load one write is under way at a time, carrying the scans that arrived
/// during the previous one plus the returning scanners of that one. A batch is one
/// queue message of gzip-compressed events (split in halves in the rare case they do not fit 64 KiB).
/// Every scan awaits the write of its own batch, so no scan is answered before its event is in the queue; a
/// failed write is retried once, then every scan of the batch fails (the endpoint answers 503 and the
/// scanner retries). Stopping the host flushes the open batch. The defaults are measured in docs/scans.md.
/// </summary>
public sealed class ScanEventBatcher : IHostedService
{
    /// <summary>Compressed bytes per message: base64 inside the JSON, base64 again on the queue: 36,000 → ~64,100 &lt; 65,536.</summary>
    public const int MaxCompressedBytes = 36_000;
    public const int MaxEventsPerMessage = 500;

    private readonly QueueClient _queue;
    private readonly TimeSpan _window;
    private readonly TimeSpan _stalledWrite;
    private readonly int _maxEvents;
    private readonly int _maxWrites;
    private int _writing; // writes under way; guarded by _lock
    private long _busySince; // Stopwatch timestamp at which _writing last rose from 0; guarded by _lock
    private int _expected = 1; // scans that waited on storage together when the last write finished; guarded by _lock
    private readonly ILogger<ScanEventBatcher> _log;
    private readonly Lock _lock = new();
    private readonly ConcurrentDictionary<Batch, Task> _inFlight = new();
    private Batch? _open;
    private bool _stopping;

    public ScanEventBatcher(StorageAccount storage, IConfiguration configuration, ILogger<ScanEventBatcher> log)
    {
        _queue = storage.Queue(storage.Names.ScanEventsQueue);
        _window = TimeSpan.FromMilliseconds(Math.Max(0, configuration.GetValue("QrFunctions:ScanBatchWindowMs", 2.0)));
        _maxEvents = Math.Clamp(configuration.GetValue("QrFunctions:ScanBatchMaxEvents", MaxEventsPerMessage), 1, MaxEventsPerMessage);
        _maxWrites = Math.Clamp(configuration.GetValue("QrFunctions:ScanBatchMaxWrites", 1), 0, 64);
        // A write under way longer than this counts as stalled: a batch past its window then gets a write of its own.
        _stalledWrite = TimeSpan.FromMilliseconds(Math.Max(0, configuration.GetValue("QrFunctions:ScanBatchStallMs", 50.0)));
        _log = log;
    }

    private sealed class Batch
    {
        public readonly List<byte[]> Events = [];
        public readonly long OpenedAt = Stopwatch.GetTimestamp();
        // Completed last in WriteThenTakeNextAsync, and synchronously: the writer's thread answers the batch's
        // scans one after another instead of waking a thread-pool item per scan (measured: ~8 % more scans/s).
        public readonly TaskCompletionSource Stored = new(TaskCreationOptions.None);
    }

    /// <summary>Completes when the event's batch is in the queue; throws when it could not be stored.</summary>
    public Task AppendAsync(ScanEvent scan)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(scan, ScanBatch.Json);
        Batch target;
        Batch? ready = null;
        var startWindow = false;
        lock (_lock)
        {
            if (_open is null)
            {
                _open = new Batch();
                startWindow = true;
            }
            target = _open;
            target.Events.Add(bytes);
            if (target.Events.Count >= _maxEvents || _stopping || _window == TimeSpan.Zero
                || (_writing < _maxWrites && target.Events.Count >= _expected))
            {
                ready = target;
                _open = null;
                startWindow = false;
                StartWriteLocked();
            }
        }
        if (ready is not null) Flush(ready);
        if (startWindow) _ = FlushAfterWindowAsync(target);
        return target.Stored.Task;
    }

    /// <summary>
    /// At the end of its window a batch is written, unless the writers are busy: then it waits for a write to
    /// finish (which takes it), so a busy service keeps one write at a time instead of adding a message per
    /// window. Only when the write under way has stalled (QrFunctions:ScanBatchStallMs, default 50) does the batch get its own.
    /// </summary>
    private async Task FlushAfterWindowAsync(Batch batch)
    {
        var wait = _window;
        while (true)
        {
            await Task.Delay(wait);
            lock (_lock)
            {
                if (!ReferenceEquals(_open, batch)) return; // already flushed: it filled up or a writer took it
                var busyFor = Stopwatch.GetElapsedTime(_busySince);
                if (_writing < Math.Max(1, _maxWrites) || busyFor >= _stalledWrite)
                {
                    _open = null;
                    StartWriteLocked();
                    break;
                }
                wait = _stalledWrite - busyFor;
            }
        }
        Flush(batch);
    }

    private void StartWriteLocked()
    {
        if (_writing++ == 0) _busySince = Stopwatch.GetTimestamp();
    }

    /// <summary>Starts writing a batch already counted in _writing; when done, a waiting batch goes out at once if a writer is free.</summary>
    private void Flush(Batch batch)
    {
        var task = WriteThenTakeNextAsync(batch);
        _inFlight[batch] = task;
        _ = task.ContinueWith(_ => _inFlight.TryRemove(batch, out Task? _), TaskScheduler.Default);
    }

    private async Task WriteThenTakeNextAsync(Batch batch)
    {
        var failure = await WriteAsync(batch);
        Batch? next = null;
        lock (_lock)
        {
            _writing--;
            // The scans just stored and those that queued behind them arrived together; their scanners are
            // likely to scan again as busily, so the next batch waits (within its window) until as many are in.
            _expected = Math.Min(_maxEvents, batch.Events.Count + (_open?.Events.Count ?? 0));
            if (_open is not null && _writing < Math.Max(1, _maxWrites)
                && ((_writing < _maxWrites && _open.Events.Count >= _expected) || Stopwatch.GetElapsedTime(_open.OpenedAt) >= _window))
            {
                next = _open;
                _open = null;
                StartWriteLocked();
            }
        }
        if (next is not null) Flush(next);
        if (failure is null) batch.Stored.TrySetResult();
        else batch.Stored.TrySetException(new ScanNotRecordedException(failure));
    }

    /// <summary>Writes the batch's messages; returns null when all are stored, else what failed.</summary>
    private async Task<Exception?> WriteAsync(Batch batch)
    {
        try
        {
            await Task.WhenAll(Encode(batch.Events).Select(SendAsync));
            return null;
        }
        catch (Exception ex)
        {
            _log.LogError(ex, "A scan batch of {Count} events could not be stored; its scans are answered 503", batch.Events.Count);
            return ex;
        }
    }

    private async Task SendAsync(BinaryData message)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await _queue.SendMessageAsync(message, visibilityTimeout: null, timeToLive: ScanBatch.TimeToLive, cancellationToken: timeout.Token);
                return;
            }
            catch (Exception ex) when (attempt < 2)
            {
                _log.LogWarning(ex, "Writing a scan batch failed; retrying once");
            }
        }
    }

    /// <summary>
    /// Serialized events as queue messages: normally one. Halved while the compressed events exceed
    /// <see cref="MaxCompressedBytes"/> (only batches of long, unlike events do); each part has its own batch id.
    /// </summary>
    public static List<BinaryData> Encode(IReadOnlyList<byte[]> events)
    {
        var compressed = ScanBatch.Compress(events);
        if (compressed.Length <= MaxCompressedBytes || events.Count == 1)
            return [ScanBatch.Message(Guid.NewGuid().ToString("N"), compressed)];
        var half = events.Count / 2;
        return [.. Encode([.. events.Take(half)]), .. Encode([.. events.Skip(half)])];
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
            if (open is not null) StartWriteLocked();
        }
        if (open is not null) Flush(open);
        await Task.WhenAll(_inFlight.Values).WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }
}

/// <summary>The scan's event could not be written to the queue: the scan must not be answered as served.</summary>
public sealed class ScanNotRecordedException(Exception inner) : Exception("The scan event could not be stored.", inner);
