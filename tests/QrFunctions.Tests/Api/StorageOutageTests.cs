using System.Net;
using System.Text.Json.Nodes;
using Azure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Hosting;
using QrFunctions.Api;
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
        { new RequestFailedException(412, "Condition not met"), false },
        { new AggregateException(new RequestFailedException(503, "busy"), new InvalidOperationException("bug")), false },
        { new InvalidOperationException("bug"), false },
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public void TransientStorageFailuresAreToldApartFromBugs(Exception failure, bool transient) =>
        Assert.Equal(transient, StorageFailures.IsTransient(failure));

    [Theory]
    [InlineData("/api/thing", "success")]
    [InlineData("/v1/thing", "error")]
    public async Task RetriesExhaustedOnStorageAnswer503InTheEnvelope(string path, string envelopeField)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        await using var app = builder.Build();
        app.UseApiErrors();
        app.MapGet("/{surface}/thing", () =>
        {
            // What the Azure SDK throws once every retry of a table call has timed out.
            throw new AggregateException(new TaskCanceledException("timeout"), new TaskCanceledException("timeout"));
#pragma warning disable CS0162 // unreachable: the lambda needs a result type
            return Results.Ok();
#pragma warning restore CS0162
        });
        await app.StartAsync();

        var response = await app.GetTestClient().GetAsync(path);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.NotNull(response.Headers.RetryAfter);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
        Assert.True(body.ContainsKey(envelopeField), body.ToJsonString());
        await app.StopAsync();
    }
}
