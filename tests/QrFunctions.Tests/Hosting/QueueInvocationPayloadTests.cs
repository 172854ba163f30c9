using System.Text;
using Microsoft.AspNetCore.Http;
using QrFunctions.Hosting;
using Xunit;

namespace QrFunctions.Tests.Hosting;

/// <summary>Payload shapes from the Azure Functions custom-handler documentation's queue-trigger example.</summary>
public class QueueInvocationPayloadTests
{
    private static Task<QueueMessage> ReadAsync(string json)
    {
        var context = new DefaultHttpContext();
        context.Request.Body = new MemoryStream(Encoding.UTF8.GetBytes(json));
        return QueueInvocationEndpoints.ReadInvocationAsync(context);
    }

    [Fact]
    public async Task AStringMessageWithHostMetadataIsRead()
    {
        var message = await ReadAsync("""
            {
              "Data": { "message": "{\"batchId\":\"b1\"}" },
              "Metadata": {
                "DequeueCount": 2,
                "ExpirationTime": "2019-10-16T17:58:31+00:00",
                "Id": "800ae4a5-9d6c-4d08-8c3c-8a0c9e9f7c9a",
                "InsertionTime": "2019-10-09T17:58:31+00:00",
                "NextVisibleTime": "2019-10-09T18:08:32+00:00",
                "PopReceipt": "AgAAAAMAAAAAAAAAAgtnj8x+1QE=",
                "sys": { "MethodName": "QueueTrigger", "UtcNow": "2019-10-09T17:58:32.2205399Z", "RandGuid": "24ad4c06-24ad-4e5b-8294-3da9714877e9" }
              }
            }
            """);
        Assert.Equal("{\"batchId\":\"b1\"}", message.Body);
        Assert.Equal(2, message.DequeueCount);
        Assert.Equal("800ae4a5-9d6c-4d08-8c3c-8a0c9e9f7c9a", message.Id);
    }

    [Fact]
    public async Task AJsonMessageTheHostAlreadyParsedIsReadBackAsJson()
    {
        var message = await ReadAsync("""{"Data":{"message":{"batchId":"b2","events":[]}},"Metadata":{"DequeueCount":"1","Id":"x"}}""");
        Assert.Equal("""{"batchId":"b2","events":[]}""", message.Body);
        Assert.Equal(1, message.DequeueCount);
    }

    [Fact]
    public async Task APayloadWithoutDataIsRefused()
    {
        await Assert.ThrowsAsync<KeyNotFoundException>(() => ReadAsync("""{"Metadata":{}}"""));
    }
}
