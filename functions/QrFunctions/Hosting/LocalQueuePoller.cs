using Azure.Storage.Queues;
using QrFunctions.Storage;

namespace QrFunctions.Hosting;

/// <summary>
/// The development server's stand-in for the host's queue triggers: polls the queue of every [QueueTrigger]
/// function in the catalog, hands each message to the function (a new instance per message, as the worker makes
/// one per invocation), deletes it on success, and after <see cref="QueueSettings.MaxDequeueCount"/> failed tries
/// moves it to "{queue}-poison", as the host does. Under the Functions host it is not registered: the host triggers.
/// </summary>
public sealed class LocalQueuePoller(StorageAccount storage, FunctionCatalog catalog, IServiceProvider services, ILogger<LocalQueuePoller> log) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(catalog.QueueFunctions.Select(f => PollAsync(f, stoppingToken)));

    private async Task PollAsync(QueueFunction function, CancellationToken ct)
    {
        var queue = storage.Queue(storage.Names.QueueOf(function.Queue));
        var poison = storage.Queue(StorageNames.PoisonQueueOf(queue.Name));
        var handle = Handler(function, services);
        var idle = TimeSpan.FromMilliseconds(50);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var handled = await DrainOnceAsync(queue, poison, handle, function.Name, ct, log);
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

    /// <summary>Calls the queue function's method with a message, on a new instance of its class from <paramref name="services"/>.</summary>
    public static Func<string, CancellationToken, Task> Handler(QueueFunction function, IServiceProvider services)
    {
        var method = function.Method;
        var factory = method.IsStatic ? null : ActivatorUtilities.CreateFactory(method.DeclaringType!, Type.EmptyTypes);
        return (message, ct) =>
        {
            var instance = factory?.Invoke(services, null);
            object?[] arguments = method.GetParameters().Length == 1 ? [message] : [message, ct];
            try
            {
                return (Task)method.Invoke(instance, arguments)!;
            }
            catch (System.Reflection.TargetInvocationException ex) when (ex.InnerException is not null)
            {
                return Task.FromException(ex.InnerException);
            }
        };
    }

    /// <summary>One receive-and-handle round; returns how many messages it took. Public so tests can drive the pipeline step by step.</summary>
    public static async Task<int> DrainOnceAsync(QueueClient queue, QueueClient poison, Func<string, CancellationToken, Task> handle, string name, CancellationToken ct, ILogger? log = null)
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
                await handle(m.Body.ToString(), ct);
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
