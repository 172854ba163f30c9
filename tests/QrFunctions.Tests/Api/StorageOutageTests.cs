using System.Text;
using System.Text.Json.Nodes;
using Azure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using QrFunctions.Api;
using QrFunctions.Auth;
using QrFunctions.Hosting;
using QrFunctions.Storage;
using Xunit;

namespace QrFunctions.Tests.Api;

/// <summary>Storage that is down or too slow answers 503 with Retry-After in the caller's envelope, never 500.</summary>
public class StorageOutageTests
{
    public static TheoryData<Exception, bool> Failures => new()
    {
        { new RequestFailedException(503, "Server busy"), true },
        { new RequestFailedException(0, "No response"), true },
        { new RequestFailedException(429, "Too many requests"), true },
        { new AggregateException(new TaskCanceledException("network timeout"), new RequestFailedException(500, "Internal")), true },
        { new HttpRequestException("Connection refused"), true },
        { new RequestFailedException(404, "Not found"), false },
        { new RequestFailedException(400, "The key is not valid", "InvalidInput", null), false },
        { new AggregateException(new RequestFailedException(400, "bad key"), new RequestFailedException(400, "bad key")), false },
        { new RequestFailedException(412, "Condition not met"), false },
        { new AggregateException(new RequestFailedException(503, "busy"), new InvalidOperationException("bug")), false },
        { new InvalidOperationException("bug"), false },
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public void TransientStorageFailuresAreToldApartFromBugs(Exception failure, bool transient) =>
        Assert.Equal(transient, StorageFailures.IsTransient(failure));

    [Theory]
    [InlineData(ApiSurface.QrApi, "success")]
    [InlineData(ApiSurface.V1, "error")]
    public async Task RetriesExhaustedOnStorageAnswer503InTheEnvelope(ApiSurface surface, string envelopeField)
    {
        var services = new ServiceCollection().AddLogging().BuildServiceProvider();
        // A public function never reaches AccessPolicy or an Idempotency-Key, so the policy needs neither here.
        var policy = new FunctionPolicy(null!, null!, new ConfigurationBuilder().Build(), NullLogger<FunctionPolicy>.Instance);
        var function = new HttpFunction("Thing", typeof(StorageOutageTests).GetMethod(nameof(TransientStorageFailuresAreToldApartFromBugs))!, "thing", ["get"],
            new FunctionAccess(surface, IsPublic: true, Role.Viewer, null, false, false), null, []);
        var context = new DefaultHttpContext { RequestServices = services };
        context.Response.Body = new MemoryStream();

        // What the Azure SDK throws once every retry of a table call has timed out.
        var result = await policy.RunAsync(context, function, _ => null,
            () => Task.FromException<IResult?>(new AggregateException(new TaskCanceledException("timeout"), new TaskCanceledException("timeout"))));
        await result!.ExecuteAsync(context);

        Assert.Equal(503, context.Response.StatusCode);
        Assert.Equal("1", context.Response.Headers.RetryAfter.ToString());
        var body = JsonNode.Parse(Encoding.UTF8.GetString(((MemoryStream)context.Response.Body).ToArray()))!.AsObject();
        Assert.True(body.ContainsKey(envelopeField), body.ToJsonString());
    }
}
