using Azure;

namespace QrFunctions.Storage;

/// <summary>Storage that is down, throttling or too slow: the request should be retried later (503), not reported as a bug (500).</summary>
public static class StorageFailures
{
    /// <summary>
    /// True for a 408/429/5xx answer, no answer at all (status 0, a timeout, a refused connection) and the
    /// AggregateException the SDK throws when all its retries of those failed. Callers rule out the client's
    /// own abort before treating a cancellation as a timeout. A 400 (a key or value storage refuses) is never
    /// transient: it is input that should have been refused (RequestJson.IsStorableId) or a bug, not an outage.
    /// Azurite answers a point read of a key with '/' with a 500, which is why such ids must never reach storage.
    /// </summary>
    public static bool IsTransient(Exception ex) => ex switch
    {
        RequestFailedException failed => failed.Status is 0 or 408 or 429 or >= 500,
        AggregateException all => all.InnerExceptions.Count > 0 && all.InnerExceptions.All(IsTransient),
        OperationCanceledException or TimeoutException or HttpRequestException => true,
        _ => false,
    };
}
