using Microsoft.Extensions.Configuration;
using QrFunctions.Storage;
using Xunit;

namespace QrFunctions.Tests.Hosting;

public class StorageConnectionTests
{
    private static StorageConnection Bind(Dictionary<string, string?> settings) =>
        StorageConnection.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());

    [Fact]
    public void AConnectionStringIsUsedWhenConfigured()
    {
        var connection = Bind(new() { ["AzureWebJobsStorage"] = "UseDevelopmentStorage=true" });
        Assert.Equal("UseDevelopmentStorage=true", connection.ConnectionString);
        Assert.Null(connection.TableServiceUri);
    }

    [Fact]
    public void ServiceUrisWithAManagedIdentityAreUsedInAzure()
    {
        // Environment variables AzureWebJobsStorage__tableServiceUri etc. arrive as "AzureWebJobsStorage:tableServiceUri".
        var connection = Bind(new()
        {
            ["AzureWebJobsStorage:tableServiceUri"] = "https://acct.table.core.windows.net",
            ["AzureWebJobsStorage:blobServiceUri"] = "https://acct.blob.core.windows.net",
            ["AzureWebJobsStorage:queueServiceUri"] = "https://acct.queue.core.windows.net",
            ["AzureWebJobsStorage:credential"] = "managedidentity",
            ["AzureWebJobsStorage:clientId"] = "00000000-0000-0000-0000-000000000001",
        });
        Assert.Null(connection.ConnectionString);
        Assert.Equal(new Uri("https://acct.table.core.windows.net"), connection.TableServiceUri);
        Assert.Equal(new Uri("https://acct.blob.core.windows.net"), connection.BlobServiceUri);
        Assert.Equal(new Uri("https://acct.queue.core.windows.net"), connection.QueueServiceUri);
        Assert.Equal("00000000-0000-0000-0000-000000000001", connection.ClientId);

        // Clients build from the URIs without a connection string (no network call happens here).
        var account = new StorageAccount(connection, new StorageNames());
        Assert.Equal("acct", account.TableService.AccountName);
    }

    [Fact]
    public void MissingStorageSettingsFailWithAMessageNamingThem()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Bind(new() { ["AzureWebJobsStorage:tableServiceUri"] = "https://acct.table.core.windows.net" }));
        Assert.Contains("AzureWebJobsStorage__queueServiceUri", error.Message);
    }
}
