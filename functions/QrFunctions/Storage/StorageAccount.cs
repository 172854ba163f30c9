using Azure.Core;
using Azure.Data.Tables;
using Azure.Identity;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Specialized;

namespace QrFunctions.Storage;

/// <summary>
/// The storage clients, created once per process. Connection settings are the ones the Functions host
/// itself reads (AzureWebJobsStorage): a connection string locally and in tests, service URIs with a
/// managed identity in Azure.
/// </summary>
public sealed class StorageAccount
{
    public StorageAccount(StorageConnection connection, StorageNames names)
    {
        Names = names;
        var queueOptions = new QueueClientOptions { MessageEncoding = QueueMessageEncoding.Base64 };
        // A received message that is not base64 was not written by this app and can never be read: like the Functions
        // host, keep it in the poison queue for a person to look at instead of failing every receive of its queue.
        queueOptions.MessageDecodingFailed += async args =>
        {
            if (args.ReceivedMessage is not { } message) return;
            await args.Queue.GetParentQueueServiceClient().GetQueueClient(StorageNames.PoisonQueueOf(args.Queue.Name)).SendMessageAsync(message.Body);
            await args.Queue.DeleteMessageAsync(message.MessageId, message.PopReceipt);
        };
        // Table calls are small: a try that has not answered in 10 s will not (the SDK default of 100 s per
        // try let a scan whose cache missed hang for minutes while storage was overloaded).
        var tableOptions = new TableClientOptions { Retry = { NetworkTimeout = TimeSpan.FromSeconds(10) } };
        if (connection.ConnectionString is { } cs)
        {
            TableService = new TableServiceClient(cs, tableOptions);
            BlobService = new BlobServiceClient(cs);
            QueueService = new QueueServiceClient(cs, queueOptions);
        }
        else
        {
            TokenCredential credential = connection.ClientId is { Length: > 0 } clientId
                ? new ManagedIdentityCredential(ManagedIdentityId.FromUserAssignedClientId(clientId))
                : new DefaultAzureCredential();
            TableService = new TableServiceClient(connection.TableServiceUri!, credential, tableOptions);
            BlobService = new BlobServiceClient(connection.BlobServiceUri!, credential);
            QueueService = new QueueServiceClient(connection.QueueServiceUri!, credential, queueOptions);
        }
        TeamData = TableService.GetTableClient(names.TeamData);
        Orgs = TableService.GetTableClient(names.Orgs);
        Routes = TableService.GetTableClient(names.Routes);
        ApiKeys = TableService.GetTableClient(names.ApiKeys);
        Users = TableService.GetTableClient(names.Users);
        Reservations = TableService.GetTableClient(names.Reservations);
        Idempotency = TableService.GetTableClient(names.Idempotency);
        QrImages = BlobService.GetBlobContainerClient(names.QrImagesContainer);
        Uploads = BlobService.GetBlobContainerClient(names.UploadsContainer);
    }

    public StorageNames Names { get; }
    public TableServiceClient TableService { get; }
    public BlobServiceClient BlobService { get; }
    public QueueServiceClient QueueService { get; }

    public TableClient TeamData { get; }
    public TableClient Orgs { get; }
    public TableClient Routes { get; }
    public TableClient ApiKeys { get; }
    public TableClient Users { get; }
    public TableClient Reservations { get; }
    public TableClient Idempotency { get; }
    public BlobContainerClient QrImages { get; }
    public BlobContainerClient Uploads { get; }

    public TableClient Table(string name) => TableService.GetTableClient(name);
    public QueueClient Queue(string name) => QueueService.GetQueueClient(name);

    /// <summary>Creates every table, queue (with its poison queue) and container. In Azure the Bicep does this instead.</summary>
    public async Task CreateAllAsync(CancellationToken ct = default)
    {
        var work = new List<Task>();
        work.AddRange(Names.AllTables.Select(t => TableService.CreateTableIfNotExistsAsync(t, ct)));
        foreach (var q in Names.AllQueues)
        {
            work.Add(QueueService.GetQueueClient(q).CreateIfNotExistsAsync(cancellationToken: ct));
            work.Add(QueueService.GetQueueClient(StorageNames.PoisonQueueOf(q)).CreateIfNotExistsAsync(cancellationToken: ct));
        }
        // QR images are public and immutable (content-hash names); uploads stay private.
        work.Add(QrImages.CreateIfNotExistsAsync(PublicAccessType.Blob, cancellationToken: ct));
        work.Add(Uploads.CreateIfNotExistsAsync(cancellationToken: ct));
        await Task.WhenAll(work);
    }

    /// <summary>Deletes everything under this prefix: tests call it so they leave nothing behind.</summary>
    public async Task DeleteAllAsync(CancellationToken ct = default)
    {
        var work = new List<Task>();
        work.AddRange(Names.AllTables.Select(t => TableService.DeleteTableAsync(t, ct)));
        foreach (var q in Names.AllQueues)
        {
            work.Add(QueueService.GetQueueClient(q).DeleteIfExistsAsync(ct));
            work.Add(QueueService.GetQueueClient(StorageNames.PoisonQueueOf(q)).DeleteIfExistsAsync(ct));
        }
        work.AddRange(Names.AllContainers.Select(c => BlobService.GetBlobContainerClient(c).DeleteIfExistsAsync(cancellationToken: ct)));
        await Task.WhenAll(work);
    }
}

/// <summary>Either a connection string (Azurite, tests) or the service URIs used with a managed identity (Azure).</summary>
public sealed record StorageConnection(string? ConnectionString, Uri? TableServiceUri, Uri? BlobServiceUri, Uri? QueueServiceUri, string? ClientId)
{
    public const string AzuriteConnectionString = "UseDevelopmentStorage=true";

    /// <summary>Reads the AzureWebJobsStorage settings the Functions host uses, so the app needs no second copy.</summary>
    public static StorageConnection FromConfiguration(IConfiguration config)
    {
        var section = config.GetSection("AzureWebJobsStorage");
        var cs = section.Value;
        if (!string.IsNullOrWhiteSpace(cs)) return new StorageConnection(cs, null, null, null, null);
        Uri? Uri(string key) => section[key] is { Length: > 0 } v ? new Uri(v) : null;
        var table = Uri("tableServiceUri");
        var blob = Uri("blobServiceUri");
        var queue = Uri("queueServiceUri");
        if (table is null || blob is null || queue is null)
        {
            var missing = new[] { ("tableServiceUri", table), ("blobServiceUri", blob), ("queueServiceUri", queue) }
                .Where(x => x.Item2 is null).Select(x => "AzureWebJobsStorage__" + x.Item1);
            throw new InvalidOperationException(
                "Storage is not configured: set AzureWebJobsStorage to a connection string, or the service URIs for a managed identity (missing: "
                + string.Join(", ", missing) + ").");
        }
        return new StorageConnection(null, table, blob, queue, section["clientId"]);
    }
}
