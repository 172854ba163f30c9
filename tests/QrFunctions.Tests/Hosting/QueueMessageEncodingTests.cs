using System.Text;
using Azure.Storage.Queues;
using QrFunctions.Storage;
using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Hosting;

public class QueueMessageEncodingTests(TestService service) : IClassFixture<TestService>
{
    [Fact]
    public async Task MessagesTheAppWritesAreBase64OnTheWireAsTheFunctionsHostExpects()
    {
        var queueName = service.Storage.Names.ScanEventsQueue;
        const string payload = """{"batchId":"b-1","events":[{"displayId":"ünïcode-✓"}]}""";
        await service.Storage.Queue(queueName).SendMessageAsync(payload);

        // Read it raw, as the Functions queue extension does before applying messageEncoding "base64".
        var connection = Environment.GetEnvironmentVariable("AzureWebJobsStorage") ?? StorageConnection.AzuriteConnectionString;
        var raw = new QueueClient(connection, queueName, new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None });
        var message = (await raw.ReceiveMessageAsync()).Value;
        var wire = message.Body.ToString();

        Assert.NotEqual(payload, wire);
        Assert.Equal(payload, Encoding.UTF8.GetString(Convert.FromBase64String(wire)));
    }
}
