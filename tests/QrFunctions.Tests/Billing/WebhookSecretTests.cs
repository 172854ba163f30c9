using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Azure.Data.Tables;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using QrFunctions.Cli;
using QrFunctions.Tests.Infrastructure;
using QrFunctions.Webhooks;
using Xunit;

namespace QrFunctions.Tests.Billing;

/// <summary>Webhook signing secrets are sealed (AES-256-GCM) with a key from configuration, never stored as they are.</summary>
public class WebhookSecretTests(WebhookTestService service) : IClassFixture<WebhookTestService>
{
    private async Task<TableEntity> SubscriptionRowAsync(string teamId, string id) =>
        (await service.Storage.TeamData.GetEntityAsync<TableEntity>(teamId, WebhookRows.RowPrefix + id)).Value;

    [Fact]
    public async Task TheSigningSecretIsStoredEncryptedAndBoundToItsSubscription()
    {
        var tenant = await service.NewTenantAsync();
        var subscribed = await (await tenant.V1().PostJsonAsync("/v1/webhooks", new { url = "https://8.8.8.8/hook", events = new[] { "codes.created" } })).BodyAsync();
        var secret = subscribed.GetProperty("signing_secret").GetString()!;
        var id = subscribed.GetProperty("id").GetString()!;
        Assert.StartsWith("whsec_", secret);

        var row = await SubscriptionRowAsync(tenant.TeamId, id);
        var stored = row.GetString("Secret");
        Assert.StartsWith("v1:test:", stored);
        foreach (var value in row.Select(p => p.Value).OfType<string>())
        {
            Assert.DoesNotContain(secret, value);
            Assert.DoesNotContain(secret["whsec_".Length..], value);
        }
        var secrets = service.Get<WebhookSecrets>();
        Assert.Equal(secret, secrets.Open(tenant.TeamId, id, stored));
        // Sealed to its team and subscription: the same value under another subscription, or altered, does not open.
        Assert.ThrowsAny<CryptographicException>(() => secrets.Open(tenant.TeamId, "whk_other", stored));
        Assert.ThrowsAny<CryptographicException>(() => secrets.Open("another-team", id, stored));
        var altered = stored[..^2] + (stored[^2] == 'A' ? "B" : "A") + stored[^1];
        Assert.ThrowsAny<CryptographicException>(() => secrets.Open(tenant.TeamId, id, altered));
        Assert.ThrowsAny<CryptographicException>(() => secrets.Open(tenant.TeamId, id, "v1:test:%%%"));
        Assert.ThrowsAny<CryptographicException>(() => secrets.Open(tenant.TeamId, id, "v1:unknown:AAAA"));
        // Two subscriptions never share a ciphertext, even for equal secrets (random nonce).
        Assert.NotEqual(secrets.Seal(tenant.TeamId, id, secret), secrets.Seal(tenant.TeamId, id, secret));
    }

    [Fact]
    public async Task APlaintextSecretStillSignsAndIsSealedByItsNextDelivery()
    {
        var received = new List<(string Body, string Timestamp, string Signature)>();
        var receiver = WebApplication.CreateSlimBuilder();
        receiver.WebHost.UseUrls("http://127.0.0.1:0");
        await using var app = receiver.Build();
        app.MapPost("/hook", async (HttpContext c) =>
        {
            var body = await new StreamReader(c.Request.Body).ReadToEndAsync();
            lock (received) received.Add((body, c.Request.Headers["X-QrFunctions-Timestamp"].ToString(), c.Request.Headers["X-QrFunctions-Signature"].ToString()));
            return Results.Ok();
        });
        await app.StartAsync();
        try
        {
            var url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/hook";
            var tenant = await service.NewTenantAsync();
            const string legacy = "whsec_storedBeforeEncryption";
            await service.Storage.TeamData.AddEntityAsync(new TableEntity(tenant.TeamId, WebhookRows.RowPrefix + "whk_legacy")
            {
                ["Url"] = url, ["Events"] = "[\"codes.created\"]", ["Secret"] = legacy, ["Enabled"] = true, ["ConsecutiveFailures"] = 0, ["CreatedAt"] = 1L,
            });
            await service.Create<WebhookDeliverer>().DeliverAsync(JsonSerializer.Serialize(new WebhookDelivery("dlv_1", tenant.TeamId, "whk_legacy", "codes.created", "{\"a\":1}", 0)), CancellationToken.None);

            var delivery = Assert.Single(received);
            Assert.Equal(WebhookRows.Sign(legacy, long.Parse(delivery.Timestamp), delivery.Body), delivery.Signature);
            var stored = (await SubscriptionRowAsync(tenant.TeamId, "whk_legacy")).GetString("Secret");
            Assert.StartsWith("v1:test:", stored);
            Assert.Equal(legacy, service.Get<WebhookSecrets>().Open(tenant.TeamId, "whk_legacy", stored));
        }
        finally
        {
            await app.StopAsync();
        }
    }

    [Fact]
    public async Task ASecretWhoseKeyIsGoneFailsTheDeliveryWithoutTouchingTheSubscription()
    {
        var tenant = await service.NewTenantAsync();
        var sealedElsewhere = new WebhookSecrets(Ring(("gone", Key()))).Seal(tenant.TeamId, "whk_gone", "whsec_x");
        await service.Storage.TeamData.AddEntityAsync(new TableEntity(tenant.TeamId, WebhookRows.RowPrefix + "whk_gone")
        {
            ["Url"] = "http://127.0.0.1:9/hook", ["Events"] = "[\"codes.created\"]", ["Secret"] = sealedElsewhere, ["Enabled"] = true, ["ConsecutiveFailures"] = 0,
        });
        var message = JsonSerializer.Serialize(new WebhookDelivery("dlv_2", tenant.TeamId, "whk_gone", "codes.created", "{}", 0));
        await Assert.ThrowsAnyAsync<CryptographicException>(() => service.Create<WebhookDeliverer>().DeliverAsync(message, CancellationToken.None));
        var row = await SubscriptionRowAsync(tenant.TeamId, "whk_gone");
        Assert.Equal((true, 0, sealedElsewhere), (row.GetBoolean("Enabled")!.Value, row.GetInt32("ConsecutiveFailures")!.Value, row.GetString("Secret")));
    }

    internal static string Key() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    internal static IConfiguration Ring(params (string Id, string Key)[] keys) => Ring(null, keys);

    internal static IConfiguration Ring(string? current, params (string Id, string Key)[] keys) => new ConfigurationBuilder().AddInMemoryCollection(
        keys.Select(k => KeyValuePair.Create($"Webhooks:SecretKeys:{k.Id}", (string?)k.Key))
            .Append(KeyValuePair.Create("Webhooks:SecretKeyId", current))).Build();

    [Fact]
    public void ABadKeyRingIsReportedWithoutItsValues()
    {
        var reference = "@Microsoft.KeyVault(VaultName=kv-qr;SecretName=webhook-secret-key-1)";
        var unresolved = new WebhookSecrets(Ring(("1", reference)));
        Assert.Null(unresolved.CurrentKeyId);
        Assert.Contains("unresolved Key Vault reference", unresolved.Problems);
        Assert.Equal(503, Assert.Throws<QrFunctions.Api.ApiProblem>(() => unresolved.Seal("t", "w", "whsec_x")).Status);

        var shortKey = Convert.ToBase64String(new byte[16]);
        Assert.Null(new WebhookSecrets(Ring(("1", shortKey))).CurrentKeyId);
        Assert.DoesNotContain(shortKey, new WebhookSecrets(Ring(("1", shortKey))).Problems);
        Assert.Null(new WebhookSecrets(Ring(("a", Key()), ("b", Key()))).CurrentKeyId); // two keys: say which one seals
        Assert.Null(new WebhookSecrets(Ring("c", ("a", Key()))).CurrentKeyId);
        Assert.Null(new WebhookSecrets(Ring(("bad:id", Key()))).CurrentKeyId);
        Assert.Equal("b", new WebhookSecrets(Ring("b", ("a", Key()), ("b", Key()))).CurrentKeyId);
        Assert.Equal("a", new WebhookSecrets(Ring(("a", Key()))).CurrentKeyId);
    }
}

/// <summary>Its own storage: the rotation command walks every subscription of the table.</summary>
public class WebhookSecretRotationTests(TestService service) : IClassFixture<TestService>
{
    [Fact]
    public async Task RotationSealsEverySecretUnderTheNewKeySoTheOldKeyCanGo()
    {
        var tenant = await service.NewTenantAsync();
        var (k1, k2) = (WebhookSecretTests.Key(), WebhookSecretTests.Key());
        var before = new WebhookSecrets(WebhookSecretTests.Ring(("k1", k1)));
        var during = new WebhookSecrets(WebhookSecretTests.Ring("k2", ("k1", k1), ("k2", k2)));
        var after = new WebhookSecrets(WebhookSecretTests.Ring(("k2", k2)));
        async Task AddAsync(string id, string stored) => await service.Storage.TeamData.AddEntityAsync(new TableEntity(tenant.TeamId, WebhookRows.RowPrefix + id)
            { ["Url"] = "https://8.8.8.8/", ["Events"] = "[\"codes.created\"]", ["Secret"] = stored, ["Enabled"] = true });
        await AddAsync("whk_a", before.Seal(tenant.TeamId, "whk_a", "whsec_a"));
        await AddAsync("whk_b", "whsec_b"); // stored before encryption
        await AddAsync("whk_c", during.Seal(tenant.TeamId, "whk_c", "whsec_c"));

        var report = await OperatorCommands.MigrateWebhookSecretsAsync(service.Storage, during, CancellationToken.None);

        Assert.Equal("k2", report.CurrentKeyId);
        Assert.Equal(new[] { ("whk_a", "key:k1"), ("whk_b", "plaintext") }, report.Sealed.Select(s => (s.Id, s.From)).OrderBy(s => s.Id));
        Assert.Empty(report.Unreadable);
        Assert.Equal(new Dictionary<string, int> { ["k2"] = 3 }, report.ByKey);
        foreach (var (id, secret) in new[] { ("whk_a", "whsec_a"), ("whk_b", "whsec_b"), ("whk_c", "whsec_c") })
        {
            var stored = (await service.Storage.TeamData.GetEntityAsync<TableEntity>(tenant.TeamId, WebhookRows.RowPrefix + id)).Value.GetString("Secret");
            Assert.Equal(secret, after.Open(tenant.TeamId, id, stored)); // k1 is no longer needed
            Assert.ThrowsAny<CryptographicException>(() => before.Open(tenant.TeamId, id, stored));
        }
        Assert.Empty((await OperatorCommands.MigrateWebhookSecretsAsync(service.Storage, during, CancellationToken.None)).Sealed);

        // A value whose key left the configuration too early is reported, not lost.
        await AddAsync("whk_d", before.Seal(tenant.TeamId, "whk_d", "whsec_d"));
        var late = await OperatorCommands.MigrateWebhookSecretsAsync(service.Storage, after, CancellationToken.None);
        Assert.Equal(("whk_d", "key:k1"), late.Unreadable.Select(s => (s.Id, s.From)).Single());
        // So is a key replaced under the same id: its values are unreadable, not "already under the current key".
        var replaced = new WebhookSecrets(WebhookSecretTests.Ring(("k2", WebhookSecretTests.Key())));
        var wrongKey = await OperatorCommands.MigrateWebhookSecretsAsync(service.Storage, replaced, CancellationToken.None);
        Assert.Equal(4, wrongKey.Unreadable.Count);
        Assert.Empty(wrongKey.ByKey);
    }
}

public class WebhookWithoutKeyService : TestService
{
    protected override IEnumerable<string> Settings => ["--Webhooks:SecretKeyId=absent"];
}

public class WebhookWithoutKeyTests(WebhookWithoutKeyService service) : IClassFixture<WebhookWithoutKeyService>
{
    [Fact]
    public async Task WithoutItsKeyTheServiceStoresNoSecretAndSaysItIsUnavailable()
    {
        var tenant = await service.NewTenantAsync();
        var response = await tenant.V1().PostJsonAsync("/v1/webhooks", new { url = "https://8.8.8.8/hook", events = new[] { "codes.created" } });
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("unavailable", (await response.BodyAsync()).GetProperty("error").GetProperty("code").GetString());
        var list = await (await tenant.V1().GetAsync("/v1/webhooks")).BodyAsync();
        Assert.Empty(list.GetProperty("data").EnumerateArray());
    }
}
