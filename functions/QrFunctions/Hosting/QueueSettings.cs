namespace QrFunctions.Hosting;

/// <summary>
/// The queue trigger settings of host.json, which the development server's poller follows too, so both retry and
/// poison alike (a test holds host.json to these values; docs/hosting.md gives the reasons).
/// </summary>
public static class QueueSettings
{
    /// <summary>Messages one instance takes per poll (host.json batchSize; newBatchThreshold is half of it).</summary>
    public const int BatchSize = 16;
    /// <summary>Tries before a message goes to "{queue}-poison" for a person to look at.</summary>
    public const int MaxDequeueCount = 5;
    /// <summary>How long a failed message waits before its next try.</summary>
    public static readonly TimeSpan VisibilityTimeout = TimeSpan.FromSeconds(10);
    /// <summary>Longest wait between polls of an empty queue.</summary>
    public static readonly TimeSpan MaxPollingInterval = TimeSpan.FromSeconds(2);
}
