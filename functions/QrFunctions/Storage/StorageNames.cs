using System.Text.Json;

namespace QrFunctions.Storage;

/// <summary>
/// Names of every table, queue and blob container, read from infra/storage-names.json (embedded), so
/// the Bicep that creates them and the code that uses them share one list. A prefix isolates tests.
/// </summary>
public sealed class StorageNames
{
    private readonly Dictionary<string, string> _tables, _queues, _containers;

    public StorageNames(string prefix = "")
    {
        if (prefix.Length > 0 && !System.Text.RegularExpressions.Regex.IsMatch(prefix, "^[a-z][a-z0-9]{0,15}$"))
            throw new ArgumentException("A storage prefix is 1-16 lowercase letters or digits, starting with a letter.", nameof(prefix));
        Prefix = prefix;
        using var stream = typeof(StorageNames).Assembly.GetManifestResourceStream("storage-names.json")
            ?? throw new InvalidOperationException("storage-names.json is not embedded.");
        using var doc = JsonDocument.Parse(stream);
        _tables = Read(doc, "tables", n => prefix + n);
        _queues = Read(doc, "queues", QueueOf);
        _containers = Read(doc, "containers", n => prefix.Length == 0 ? n : $"{prefix}-{n}");
    }

    public string Prefix { get; }

    /// <summary>A queue's name under this prefix, from its plain name (the name a [QueueTrigger] declares).</summary>
    public string QueueOf(string plainName) => Prefix.Length == 0 ? plainName : $"{Prefix}-{plainName}";

    public string TeamData => _tables["teamData"];
    public string Orgs => _tables["orgs"];
    public string Routes => _tables["routes"];
    public string ApiKeys => _tables["apiKeys"];
    public string Users => _tables["users"];
    public string Reservations => _tables["reservations"];
    public string ScanEvents => _tables["scanEvents"];
    public string ScanStats => _tables["scanStats"];
    public string Usage => _tables["usage"];
    public string RateLimits => _tables["rateLimits"];
    public string Outbox => _tables["outbox"];
    public string BulkBatches => _tables["bulkBatches"];
    public string Idempotency => _tables["idempotency"];

    public string ScanEventsQueue => _queues["scanEvents"];
    public string EmailOutboxQueue => _queues["emailOutbox"];
    public string WebhookDeliveriesQueue => _queues["webhookDeliveries"];
    public string BulkCreateQueue => _queues["bulkCreate"];

    public string QrImagesContainer => _containers["qrImages"];
    public string UploadsContainer => _containers["uploads"];

    public IReadOnlyCollection<string> AllTables => _tables.Values;
    public IReadOnlyCollection<string> AllQueues => _queues.Values;
    public IReadOnlyCollection<string> AllContainers => _containers.Values;

    /// <summary>The Functions host moves a message here after maxDequeueCount failures; the local poller does the same.</summary>
    public static string PoisonQueueOf(string queue) => queue + "-poison";

    private static Dictionary<string, string> Read(JsonDocument doc, string section, Func<string, string> name) =>
        doc.RootElement.GetProperty(section).EnumerateObject().ToDictionary(p => p.Name, p => name(p.Value.GetString()!));
}
