using QrFunctions.Storage;

namespace QrFunctions.Hosting;

/// <summary>One dequeued message, as the Functions host or the local poller hands it over.</summary>
public sealed record QueueMessage(string Id, string Body, long DequeueCount);

/// <summary>Code run for each message of one queue. Throwing means "not done": the message is retried, then poisoned.</summary>
public interface IQueueMessageHandler
{
    Task HandleAsync(QueueMessage message, CancellationToken cancellationToken);
}

/// <summary>
/// A queue-triggered function: its name (the Functions host POSTs to /{Name}), its queue, and its handler.
/// The same entry drives the generated function.json, the host adapter endpoint and the local poller.
/// </summary>
public sealed record QueueTrigger(string Name, Func<StorageNames, string> Queue, Type Handler);

/// <summary>Queue settings shared by host.json and the local poller, so both retry and poison alike.</summary>
public static class QueueSettings
{
    public const int BatchSize = 16;
    public const int MaxDequeueCount = 5;
    public static readonly TimeSpan VisibilityTimeout = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan MaxPollingInterval = TimeSpan.FromSeconds(2);
}
