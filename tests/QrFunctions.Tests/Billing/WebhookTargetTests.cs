using System.Net;
using System.Text.Json;
using Azure.Data.Tables;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using QrFunctions.Api;
using QrFunctions.Tests.Infrastructure;
using QrFunctions.Webhooks;
using Xunit;

namespace QrFunctions.Tests.Billing;

/// <summary>
/// Webhook SSRF: every address is classified by what it reaches (IPv4 embedded in IPv6 included), the same way
/// when subscribing and when the deliverer connects. No test here sends a packet: literals need no DNS, and the
/// only name resolved is localhost.
/// </summary>
public class WebhookTargetTests(TestService service) : IClassFixture<TestService>
{
    /// <summary>Addresses that reach something other than an ordinary public host: refused.</summary>
    public static readonly string[] Refused =
    [
        "0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.254", "127.0.0.1", "127.8.9.10",
        "169.254.169.254", "172.16.0.1", "172.31.255.255", "192.0.0.8", "192.0.0.170", "192.0.2.10", "192.31.196.1",
        "192.52.193.1", "192.88.99.1", "192.168.1.1", "192.175.48.1", "198.18.0.1", "198.19.255.255", "198.51.100.7",
        "203.0.113.9", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
        "::", "::1", "::127.0.0.1", "::8.8.8.8", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:0:7f00:1",
        "64:ff9b::7f00:1", "64:ff9b::a00:1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::8.8.8.8", "64:ff9b:1:ffff::1",
        "100::1", "2001::80ff:fffe", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:2::1", "2001:10::1", "2001:20::1",
        "2001:db8::1", "2002:7f00:1::", "2002:a9fe:a9fe::1", "2002:c0a8:101::1", "2002:a00:1:1::1", "2620:4f:8000::1",
        "3fff::1", "5f00::1", "fc00::1", "fd12:3456::1", "fe80::1", "fe80::1%2", "fec0::1", "ff02::1", "ff05::1:3", "4000::1", "1::1",
    ];

    /// <summary>Ordinary public hosts, and IPv6 forms embedding one: allowed.</summary>
    public static readonly string[] Allowed =
    [
        "8.8.8.8", "1.1.1.1", "20.1.2.3", "100.63.255.255", "100.128.0.1", "172.15.255.255", "172.32.0.1", "192.0.3.1",
        "192.167.1.1", "198.17.255.255", "198.20.0.1", "223.255.255.254", "2001:4860:4860::8888", "2606:4700:4700::1111",
        "2a00:1450:4001:80b::200e", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
        // Teredo: server 65.54.227.120, client 8.8.8.8 stored inverted (f7f7:f7f7).
        "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
    ];

    public static TheoryData<string> RefusedAddresses => new(Refused);
    public static TheoryData<string> AllowedAddresses => new(Allowed);

    [Theory, MemberData(nameof(RefusedAddresses))]
    public void SpecialPurposeAddressesAreRefused(string address)
    {
        var ip = IPAddress.Parse(address);
        Assert.NotNull(WebhookTargets.SpecialPurpose(ip));
        Assert.True(WebhookTargets.IsPrivate(ip));
        // The deliverer's connect-time choice uses the same classifier on the address it would connect to.
        Assert.Null(WebhookTargets.ConnectTarget([ip], allowPrivate: false));
        Assert.Equal(ip, WebhookTargets.ConnectTarget([ip], allowPrivate: true));
    }

    [Theory, MemberData(nameof(AllowedAddresses))]
    public void PublicAddressesAreAllowed(string address)
    {
        var ip = IPAddress.Parse(address);
        Assert.Null(WebhookTargets.SpecialPurpose(ip));
        Assert.Equal(ip, WebhookTargets.ConnectTarget([ip], allowPrivate: false));
    }

    [Fact]
    public void TheCorpusIsLargeAndEveryReasonNamesTheRange()
    {
        Assert.True(Refused.Length + Allowed.Length + UrlForms.Length >= 40);
        Assert.Contains("NAT64", WebhookTargets.SpecialPurpose(IPAddress.Parse("64:ff9b::7f00:1")));
        Assert.Contains("loopback", WebhookTargets.SpecialPurpose(IPAddress.Parse("64:ff9b::7f00:1")));
        Assert.Contains("6to4", WebhookTargets.SpecialPurpose(IPAddress.Parse("2002:7f00:1::")));
        Assert.Contains("Teredo", WebhookTargets.SpecialPurpose(IPAddress.Parse("2001::80ff:fffe")));
    }

    [Fact]
    public void TheConnectTargetSkipsRefusedAddressesOfAMixedAnswer()
    {
        // A name answering both (rebinding, or a split record): only the public address is ever connected to.
        var chosen = WebhookTargets.ConnectTarget([IPAddress.Parse("64:ff9b::7f00:1"), IPAddress.Parse("2002:a00:1::"), IPAddress.Parse("8.8.4.4")], allowPrivate: false);
        Assert.Equal(IPAddress.Parse("8.8.4.4"), chosen);
    }

    /// <summary>URL spellings: numeric IPv4 forms, bracketed IPv6 with zone ids, names that resolve to loopback.</summary>
    public static readonly (string Url, bool Allowed)[] UrlForms =
    [
        ("http://2130706433/", false), ("http://0177.0.0.1/", false), ("http://0x7f.1/", false), ("http://127.1/", false),
        ("http://0x7f000001/", false), ("http://017700000001/", false), ("http://127.000.000.001/", false), ("http://0/", false),
        ("http://0x0a.0.0.1/", false), ("http://167772161/", false), ("http://0251.0376.0251.0376/", false),
        ("http://[::ffff:127.0.0.1]/", false), ("http://[0:0:0:0:0:ffff:7f00:1]/", false), ("http://[64:ff9b::7f00:1]/", false),
        ("http://[64:ff9b::127.0.0.1]/", false), ("http://[2002:7f00:1::]/", false), ("http://[fe80::1%25eth0]/", false),
        ("http://[fe80::a9fe:a9fe%251]:8080/x", false), ("http://[2001:db8::1%25eth0]/", false), ("https://[fd00::1]:443/", false),
        ("http://localhost/", false), ("http://LOCALHOST:8080/", false), ("http://localhost./", false),
        ("http://134744072/", true), ("http://0x08.0x08.0x08.0x08/", true), ("http://[64:ff9b::808:808]/", true),
        ("http://[2002:808:808::]/hook", true), ("https://[2606:4700:4700::1111]:8443/hook", true), ("https://8.8.8.8/hook?x=1", true),
    ];

    public static TheoryData<string, bool> Urls()
    {
        var data = new TheoryData<string, bool>();
        foreach (var (url, allowed) in UrlForms) data.Add(url, allowed);
        return data;
    }

    [Theory, MemberData(nameof(Urls))]
    public async Task UrlSpellingsAreCheckedByTheAddressTheyReach(string url, bool allowed)
    {
        var uri = WebhookTargets.Validate(url);
        var check = WebhookTargets.EnsurePublicAsync(uri, allowPrivate: false, CancellationToken.None);
        if (allowed) await check;
        else Assert.Equal(400, (await Assert.ThrowsAsync<ApiProblem>(() => check)).Status);
        await WebhookTargets.EnsurePublicAsync(WebhookTargets.Validate("http://127.0.0.1/"), allowPrivate: true, CancellationToken.None);
    }

    [Fact]
    public async Task SubscribingRefusesEmbeddedAndNumericFormsOfInternalAddresses()
    {
        var tenant = await service.NewTenantAsync();
        var v1 = tenant.V1();
        foreach (var url in new[]
        {
            "http://[64:ff9b::7f00:1]/", "http://[2002:7f00:1::]/", "http://[2001::80ff:fffe]/", "http://[::ffff:169.254.169.254]/",
            "http://[::127.0.0.1]/", "http://[64:ff9b:1::a00:1]/", "http://[fec0::1]/", "http://[100::1]/", "http://2130706433/",
            "http://0177.0.0.1/", "http://0x7f.1/", "http://100.64.0.1/", "http://198.18.0.1/", "http://240.0.0.1/", "http://192.88.99.1/",
            "http://[fe80::1%25eth0]/", "http://localhost:7071/",
        })
        {
            var response = await v1.PostJsonAsync("/v1/webhooks", new { url, events = new[] { "codes.created" } });
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{url}: {(int)response.StatusCode} {text}");
            Assert.Contains("invalid_request", text);
        }
        foreach (var url in new[] { "http://[64:ff9b::808:808]/hook", "http://[2002:808:808::1]/hook", "https://134744072/hook" })
            Assert.Equal(HttpStatusCode.Created, (await v1.PostJsonAsync("/v1/webhooks", new { url, events = new[] { "codes.created" } })).StatusCode);
    }

    [Fact]
    public async Task TheDelivererDoesNotConnectToANameThatNowResolvesToLoopback()
    {
        var hits = 0;
        var receiver = WebApplication.CreateSlimBuilder();
        receiver.WebHost.UseUrls("http://127.0.0.1:0");
        await using var app = receiver.Build();
        app.MapPost("/hook", () => { Interlocked.Increment(ref hits); return Results.Ok(); });
        await app.StartAsync();
        try
        {
            var port = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;
            var tenant = await service.NewTenantAsync();
            // As if the name had resolved to a public address when subscribing (DNS rebinding): the row is written directly.
            var id = "whk_rebound";
            await service.Storage.TeamData.AddEntityAsync(new TableEntity(tenant.TeamId, WebhookRows.RowPrefix + id)
            {
                ["Url"] = $"http://localhost:{port}/hook", ["Events"] = "[\"codes.created\"]", ["Secret"] = "whsec_test", ["Enabled"] = true, ["ConsecutiveFailures"] = 0,
            });
            var delivery = new WebhookDelivery("dlv_test", tenant.TeamId, id, "codes.created", "{}", 0);
            await service.Create<WebhookDeliverer>().DeliverAsync(JsonSerializer.Serialize(delivery), CancellationToken.None);

            Assert.Equal(0, hits);
            var row = (await service.Storage.TeamData.GetEntityAsync<TableEntity>(tenant.TeamId, WebhookRows.RowPrefix + id)).Value;
            Assert.Equal(1, row.GetInt32("ConsecutiveFailures"));
        }
        finally
        {
            await app.StopAsync();
        }
    }
}
