using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Storage.Queues;
using QrFunctions.Email;
using QrFunctions.Hosting;
using QrFunctions.Storage;
using QrFunctions.Tests.Infrastructure;
using QrFunctions.Tests.Scans;
using Xunit;

namespace QrFunctions.Tests.Hosting;

/// <summary>The development server with its queue poller running, as ./run.sh starts it.</summary>
public sealed class PollingService : ScanTestService
{
    protected override IEnumerable<string> Settings => [.. base.Settings, "--QrFunctions:LocalQueuePolling=true"];
}

/// <summary>
/// Queue functions fed the way the Functions host feeds them: messages put into Azurite by the Azure.Storage.Queues
/// client in host.json's encoding (base64), taken by the development server's poller, handed to the same [Function].
/// </summary>
public class QueueFunctionTests(PollingService service) : IClassFixture<PollingService>
{
    private static QueueClient Client(string queue, QueueMessageEncoding encoding) =>
        new(Environment.GetEnvironmentVariable("AzureWebJobsStorage") ?? StorageConnection.AzuriteConnectionString, queue, new QueueClientOptions { MessageEncoding = encoding });

    private static async Task<T> EventuallyAsync<T>(Func<Task<T>> read, Func<T, bool> done, string what)
    {
        for (var i = 0; i < 300; i++)
        {
            var value = await read();
            if (done(value)) return value;
            await Task.Delay(100);
        }
        throw new Xunit.Sdk.XunitException($"{what} did not happen within 30 s");
    }

    [Fact]
    public async Task AMailPutOnTheQueueByAnotherClientIsSentByTheSendEmailFunction()
    {
        var to = $"queued-{Ids.Random(6)}@example.test";
        var mail = new OutgoingEmail(Ids.New("mail"), to, "Queued by hand", "Hello", DateTime.UtcNow.Ticks);
        await Client(service.Storage.Names.EmailOutboxQueue, QueueMessageEncoding.Base64).SendMessageAsync(JsonSerializer.Serialize(mail));

        var sent = await EventuallyAsync(() => EmailSender.RecentAsync(service.Storage, to), m => m.Count > 0, "the mail");

        Assert.Equal("Queued by hand", Assert.Single(sent).GetString("Subject"));
    }

    [Fact]
    public async Task ScansAreCountedByTheAggregateScansFunctionThePollerRuns()
    {
        var tenant = await service.NewTenantAsync();
        var created = await tenant.QrApi().PostJsonAsync("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://example.com/polled" }).DataAsync(HttpStatusCode.Created);
        var (displayId, qrId) = (created.GetProperty("displayId").GetString()!, created.GetProperty("id").GetString()!);
        var client = service.Anonymous();
        for (var i = 0; i < 3; i++) Assert.Equal(HttpStatusCode.Found, (await client.GetAsync("/" + displayId)).StatusCode);

        var overview = await EventuallyAsync(() => ScanTestService.OverviewAsync(tenant, qrId), o => o["totalScans"]!.GetValue<long>() >= 3, "counting 3 scans");

        Assert.Equal(3, overview["totalScans"]!.GetValue<long>());
    }

    [Fact]
    public async Task AMessageNotInTheQueuesEncodingEndsInThePoisonQueue()
    {
        var queue = service.Storage.Names.WebhookDeliveriesQueue;
        await Client(queue, QueueMessageEncoding.None).SendMessageAsync("plain text, not base64 {");

        var poisoned = await EventuallyAsync(async () => (await service.Storage.Queue(StorageNames.PoisonQueueOf(queue)).PeekMessagesAsync(32)).Value,
            m => m.Length > 0, "poisoning");

        Assert.Contains("plain text, not base64 {", poisoned.Select(m => m.Body.ToString()));
    }

    public static TheoryData<string, string> QueueFunctionPaths()
    {
        var data = new TheoryData<string, string>();
        foreach (var f in FunctionCatalog.App.QueueFunctions)
            foreach (var path in new[] { "/" + f.Name, "/api/" + f.Name, "/admin/functions/" + f.Name })
                foreach (var method in new[] { "GET", "POST", "PUT" })
                    data.Add(method, path);
        return data;
    }

    [Theory]
    [MemberData(nameof(QueueFunctionPaths))]
    public async Task NoHttpRequestReachesAQueueFunction(string method, string path)
    {
        var tenant = await service.NewTenantAsync();
        var qrId = (await tenant.QrApi().PostJsonAsync("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://example.com/forged" })
            .DataAsync(HttpStatusCode.Created)).GetProperty("id").GetString()!;
        // What a forger would post: a batch of scans of someone's code.
        var forged = JsonSerializer.Serialize(new { Data = new { message = JsonSerializer.Serialize(new
        {
            batchId = Guid.NewGuid().ToString("N"),
            events = Enumerable.Range(0, 50).Select(i => new { qrId, teamId = tenant.TeamId, orgId = tenant.OrgId, scanTime = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() }),
        }) } });

        var response = await service.Anonymous().SendAsync(new HttpRequestMessage(new HttpMethod(method), path) { Content = ApiCalls.Json(forged) });

        Assert.Contains(response.StatusCode, new[] { HttpStatusCode.NotFound, HttpStatusCode.MethodNotAllowed });
        if (response.Content.Headers.ContentType?.MediaType == "text/html")
            Assert.Equal("GET", method); // a one-segment GET is a scan of an unknown code: its page, not a function
        else
            Assert.False((await response.BodyAsync()).GetProperty("success").GetBoolean());
        await Task.Delay(300); // the poller would have counted anything that reached the queue by now
        Assert.Equal(0, (await ScanTestService.OverviewAsync(tenant, qrId))["totalScans"]!.GetValue<long>());
    }
}

public class HostJsonTests
{
    private static JsonNode HostJson => JsonNode.Parse(File.ReadAllText(Path.Combine(RepoPaths.Root, "host.json")))!;

    [Fact]
    public void FunctionsAreServedAtTheRootAndQueuesDecodedAsTheAppWritesThem()
    {
        var host = HostJson;
        Assert.Equal("", host["extensions"]!["http"]!["routePrefix"]!.GetValue<string>());
        var queues = host["extensions"]!["queues"]!;
        Assert.Equal("base64", queues["messageEncoding"]!.GetValue<string>());
        Assert.Equal(QueueSettings.MaxDequeueCount, queues["maxDequeueCount"]!.GetValue<int>());
        Assert.Equal(QueueSettings.BatchSize, queues["batchSize"]!.GetValue<int>());
        Assert.Equal(QueueSettings.BatchSize / 2, queues["newBatchThreshold"]!.GetValue<int>());
        Assert.Equal(QueueSettings.VisibilityTimeout, TimeSpan.Parse(queues["visibilityTimeout"]!.GetValue<string>()));
        Assert.Equal(QueueSettings.MaxPollingInterval, TimeSpan.Parse(queues["maxPollingInterval"]!.GetValue<string>()));
    }

    [Fact]
    public void NothingOfTheCustomHandlerIsLeft()
    {
        var host = HostJson.AsObject();
        Assert.False(host.ContainsKey("customHandler"));
        Assert.False(host.ContainsKey("extensionBundle")); // the isolated worker brings its extensions (.azurefunctions/)
    }

    [Fact]
    public void FuncStartInTheProjectFolderReadsTheSameHostJson() =>
        Assert.Equal(File.ReadAllText(Path.Combine(RepoPaths.Root, "host.json")), File.ReadAllText(Path.Combine(RepoPaths.Root, "functions", "QrFunctions", "host.json")));
}
