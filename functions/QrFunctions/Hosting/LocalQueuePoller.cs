using Azure.Storage.Queues;
using QrFunctions.Storage;

namespace QrFunctions.Hosting;

/// <summary>
/// Runs the queue triggers without the Functions host (local runs and tests): receive, hand to the
/// same handler the host adapter uses, delete on success; after <see cref="QueueSettings.MaxDequeueCount"/>
/// failed tries move the message to "{queue}-poison", as the host does. Off in Azure (QrFunctions:LocalQueuePolling=false).
/// </summary>
public sealed class LocalQueuePoller(StorageAccount storage, IServiceProvider services, ILogger<LocalQueuePoller> log) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(Triggers.All.Select(t => PollAsync(t, stoppingToken)));

    private async Task PollAsync(QueueTrigger trigger, CancellationToken ct)
    {
        var queue = storage.Queue(trigger.Queue(storage.Names));
        var poison = storage.Queue(StorageNames.PoisonQueueOf(queue.Name));
        var handler = (IQueueMessageHandler)services.GetRequiredService(trigger.Handler);
        var idle = TimeSpan.FromMilliseconds(50);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var handled = await DrainOnceAsync(queue, poison, handler, trigger.Name, ct, log);
                idle = handled > 0 ? TimeSpan.FromMilliseconds(50) : TimeSpan.FromMilliseconds(Math.Min(idle.TotalMilliseconds * 2, QueueSettings.MaxPollingInterval.TotalMilliseconds));
                if (handled > 0) continue;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                log.LogWarning(ex, "Polling {Queue} failed; retrying", queue.Name);
            }
            try { await Task.Delay(idle, ct); } catch (OperationCanceledException) { return; }
        }
    }

    /// <summary>One receive-and-handle round; returns how many messages it took. Public so tests can drive the pipeline step by step.</summary>
    public static async Task<int> DrainOnceAsync(QueueClient queue, QueueClient poison, IQueueMessageHandler handler, string name, CancellationToken ct, ILogger? log = null)
    {
        var received = await queue.ReceiveMessagesAsync(QueueSettings.BatchSize, QueueSettings.VisibilityTimeout, ct);
        await Task.WhenAll(received.Value.Select(async m =>
        {
            if (m.DequeueCount > QueueSettings.MaxDequeueCount)
            {
                await MoveToPoisonAsync();
                return;
            }
            try
            {
                await handler.HandleAsync(new QueueMessage(m.MessageId, m.Body.ToString(), m.DequeueCount), ct);
                await queue.DeleteMessageAsync(m.MessageId, m.PopReceipt, ct);
            }
            catch (Exception ex) when (!ct.IsCancellationRequested)
            {
                log?.LogWarning(ex, "Message {Id} of {Function} failed on try {Try}", m.MessageId, name, m.DequeueCount);
                if (m.DequeueCount >= QueueSettings.MaxDequeueCount) await MoveToPoisonAsync();
                // Retry soon rather than after the full visibility timeout.
                else await queue.UpdateMessageAsync(m.MessageId, m.PopReceipt, visibilityTimeout: TimeSpan.FromMilliseconds(200), cancellationToken: ct);
            }

            // Same rule as the Functions host: give up after MaxDequeueCount tries, keep the message for a person to look at.
            async Task MoveToPoisonAsync()
            {
                await poison.SendMessageAsync(m.Body, cancellationToken: ct);
                await queue.DeleteMessageAsync(m.MessageId, m.PopReceipt, ct);
                log?.LogError("Message {Id} of {Function} moved to {Poison} after {Tries} tries", m.MessageId, name, poison.Name, m.DequeueCount);
            }
        }));
        return received.Value.Length;
    }
}
