using System.Net;
using System.Text.Json;
using Azure.Data.Tables;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using QrFunctions.Hosting;
using QrFunctions.Storage;
using QrFunctions.Tests.Infrastructure;
using QrFunctions.Webhooks;
using Xunit;

namespace QrFunctions.Tests.Billing;

/// <summary>The app with private webhook targets allowed, so a receiver on 127.0.0.1 can be used.</summary>
public class WebhookTestService : TestService
{
    protected override IEnumerable<string> Settings => ["--Webhooks:AllowPrivateTargets=true"];
}

public class WebhookDeliveryTests(WebhookTestService service) : IClassFixture<WebhookTestService>
{
    private async Task DeliverAllAsync()
    {
        await service.DrainQueueAsync("DeliverWebhooks");
    }

    [Fact]
    public async Task ACodeChangeIsDeliveredSignedToASubscribedReceiver()
    {
        var received = new List<(string Body, string Timestamp, string Signature, string Event)>();
        var receiver = WebApplication.CreateSlimBuilder();
        receiver.WebHost.UseUrls("http://127.0.0.1:0");
        await using var app = receiver.Build();
        app.MapPost("/hook", async (HttpContext c) =>
        {
            var body = await new StreamReader(c.Request.Body).ReadToEndAsync();
            lock (received) received.Add((body, c.Request.Headers["X-QrFunctions-Timestamp"].ToString(), c.Request.Headers["X-QrFunctions-Signature"].ToString(), c.Request.Headers["X-QrFunctions-Event"].ToString()));
            return Results.Ok();
        });
        await app.StartAsync();
        try
        {
            var url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/hook";
            var tenant = await service.NewTenantAsync();
            var subscribed = await (await tenant.V1().PostJsonAsync("/v1/webhooks", new { url, events = new[] { "codes.created", "codes.deleted" } })).BodyAsync();
            var secret = subscribed.GetProperty("signing_secret").GetString()!;
            var list = await (await tenant.V1().GetAsync("/v1/webhooks")).Content.ReadAsStringAsync();
            Assert.DoesNotContain(secret, list);

            var qr = await tenant.QrApi().PostJsonAsync("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://a.example/" }).DataAsync(HttpStatusCode.Created);
            await tenant.QrApi().PatchJsonAsync($"/api/qrs-api/{qr.GetProperty("id").GetString()}/title", new { title = "not subscribed" }).DataAsync();
            await DeliverAllAsync();

            var delivery = Assert.Single(received);
            Assert.Equal("codes.created", delivery.Event);
            // What a receiver does: recompute the signature over "{timestamp}.{body}" with its secret.
            Assert.Equal(WebhookRows.Sign(secret, long.Parse(delivery.Timestamp), delivery.Body), delivery.Signature);
            Assert.NotEqual(WebhookRows.Sign("whsec_wrong", long.Parse(delivery.Timestamp), delivery.Body), delivery.Signature);
            var payload = JsonDocument.Parse(delivery.Body).RootElement;
            Assert.Equal(qr.GetProperty("id").GetString(), payload.GetProperty("data").GetProperty("id").GetString());
        }
        finally
        {
            await app.StopAsync();
        }
    }

    [Fact]
    public async Task AFailingReceiverIsRetriedWithBackoffAndDisabledAfterEightFailures()
    {
        var tenant = await service.NewTenantAsync();
        // Nothing listens on port 9 (discard) here: every delivery fails to connect.
        var subscribed = await (await tenant.V1().PostJsonAsync("/v1/webhooks", new { url = "http://127.0.0.1:9/hook", events = new[] { "codes.created" } })).BodyAsync();
        var id = subscribed.GetProperty("id").GetString()!;
        await tenant.QrApi().PostJsonAsync("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://a.example/" }).DataAsync(HttpStatusCode.Created);

        var queue = service.Storage.Queue(service.Storage.Names.WebhookDeliveriesQueue);
        var first = (await queue.ReceiveMessageAsync()).Value;
        var delivery = JsonSerializer.Deserialize<WebhookDelivery>(first.Body.ToString())!;
        await queue.DeleteMessageAsync(first.MessageId, first.PopReceipt);
        var deliverer = service.Create<WebhookDeliverer>();
        for (var attempt = 0; attempt < WebhookRows.DisableAfterFailures; attempt++)
            await deliverer.DeliverAsync(JsonSerializer.Serialize(delivery with { Attempt = attempt }), CancellationToken.None);

        var row = (await service.Storage.TeamData.GetEntityAsync<TableEntity>(tenant.TeamId, WebhookRows.RowPrefix + id)).Value;
        Assert.False(row.GetBoolean("Enabled"));
        Assert.Equal(WebhookRows.DisableAfterFailures, row.GetInt32("ConsecutiveFailures"));
        // Each failure but the last re-queued the delivery with a delay (not visible yet).
        Assert.Null((await queue.ReceiveMessageAsync()).Value);
        Assert.True((await queue.GetPropertiesAsync()).Value.ApproximateMessagesCount >= WebhookRows.DisableAfterFailures - 1);
        var audit = await (await tenant.V1().GetAsync($"/v1/audit-logs?action=webhooks.disabled&resource_id={id}")).BodyAsync();
        Assert.Single(audit.GetProperty("data").EnumerateArray());
    }
}

public class MemberWebhookTests(WebhookTestService service) : IClassFixture<WebhookTestService>
{
    [Fact]
    public async Task AWildcardSubscriptionIsQueuedMemberEvents()
    {
        var tenant = await service.NewTenantAsync();
        await (await tenant.V1().PostJsonAsync("/v1/webhooks", new { url = "http://127.0.0.1:9/hook", events = new[] { "members.*" } })).BodyAsync();
        await tenant.QrApi().PutJsonAsync($"/api/teams-api/{tenant.TeamId}/members", new { name = "N", email = "n@example.test", role = "viewer" }).OkAsync();
        await tenant.QrApi().PostJsonAsync("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://a.example/" }).DataAsync(HttpStatusCode.Created);
        var queue = service.Storage.Queue(service.Storage.Names.WebhookDeliveriesQueue);
        var events = new List<WebhookDelivery>();
        foreach (var m in (await queue.ReceiveMessagesAsync(32)).Value)
            events.Add(JsonSerializer.Deserialize<WebhookDelivery>(m.Body.ToString())!);
        var ours = events.Where(e => e.TeamId == tenant.TeamId).ToList();
        Assert.Equal(["members.added"], ours.Select(e => e.EventType));
        Assert.Contains("n@example.test", ours[0].Payload);
    }
}

public class WebhookSsrfTests(TestService service) : IClassFixture<TestService>
{
    [Theory]
    [InlineData("http://127.0.0.1/hook")]
    [InlineData("http://10.0.0.1/hook")]
    [InlineData("http://169.254.169.254/latest/meta-data")]
    [InlineData("http://[::1]/hook")]
    [InlineData("http://localhost/hook")]
    [InlineData("http://192.168.1.10/hook")]
    [InlineData("ftp://files.example.com/hook")]
    [InlineData("javascript:alert(1)")]
    [InlineData("/relative")]
    public async Task WebhooksToInternalOrNonHttpTargetsAreRefused(string url)
    {
        var tenant = await service.NewTenantAsync();
        var response = await tenant.V1().PostJsonAsync("/v1/webhooks", new { url, events = new[] { "codes.created" } });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("url", (await response.BodyAsync()).GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public void PrivateAndSpecialAddressesAreRecognised()
    {
        foreach (var a in new[] { "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.0.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "::1", "fd00::1", "fe80::1", "::ffff:10.0.0.1" })
            Assert.True(WebhookTargets.IsPrivate(IPAddress.Parse(a)), a);
        foreach (var a in new[] { "8.8.8.8", "20.1.2.3", "2001:4860:4860::8888" })
            Assert.False(WebhookTargets.IsPrivate(IPAddress.Parse(a)), a);
    }
}
