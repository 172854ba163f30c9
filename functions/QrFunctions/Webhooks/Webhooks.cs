using Microsoft.Azure.Functions.Worker;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure;
using Azure.Data.Tables;
using Microsoft.Extensions.Caching.Memory;
using QrFunctions.Api;
using QrFunctions.AuditLogs;
using QrFunctions.Auth;
using QrFunctions.Organizations;
using QrFunctions.Storage;

namespace QrFunctions.Webhooks;

/// <summary>
/// teamdata partition (PartitionKey = teamId) rows "webhook|{id}": a subscription (URL, events, signing
/// secret, enabled, consecutive failures). Signing needs the secret itself, so it is stored encrypted with a key
/// the storage account does not hold (<see cref="WebhookSecrets"/>); the API shows it only when the subscription is created.
/// </summary>
public static class WebhookRows
{
    public const string RowPrefix = "webhook|";
    public const int DisableAfterFailures = 8;
    public static readonly TimeSpan[] Backoff = [TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(10), TimeSpan.FromHours(1), TimeSpan.FromHours(3), TimeSpan.FromHours(6)];

    public static readonly string[] Events = ["codes.created", "codes.updated", "codes.deleted", "scans.recorded", "leads.created", "members.added", "members.updated", "members.removed", "members.*"];

    public static bool Wants(TableEntity subscription, string eventType)
    {
        var events = JsonSerializer.Deserialize<string[]>(subscription.GetString("Events") ?? "[]") ?? [];
        return events.Any(e => e == eventType || (e.EndsWith(".*", StringComparison.Ordinal) && eventType.StartsWith(e[..^1], StringComparison.Ordinal)));
    }

    /// <summary>"v1=" + hex HMAC-SHA256(secret, "{timestamp}.{body}"): the receiver recomputes it and compares.</summary>
    public static string Sign(string secret, long timestamp, string body) =>
        "v1=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"{timestamp}.{body}")));
}

/// <summary>One delivery to do: carried by the webhook-deliveries queue, re-enqueued with a delay after a failure.</summary>
public sealed record WebhookDelivery(string DeliveryId, string TeamId, string SubscriptionId, string EventType, string Payload, int Attempt);

/// <summary>Finds a team's subscriptions for an event and queues one delivery each. Callers never fail because of it.</summary>
public sealed class WebhookPublisher(StorageAccount storage, IMemoryCache cache, ILogger<WebhookPublisher> log)
{
    public async Task PublishAsync(string teamId, string eventType, JsonNode data, CancellationToken ct)
    {
        try
        {
            var subscriptions = await cache.GetOrCreateAsync(("webhooks", teamId), async e =>
            {
                e.AbsoluteExpirationRelativeToNow = TimeSpan.FromSeconds(5);
                var rows = new List<TableEntity>();
                await foreach (var row in storage.TeamData.QueryAsync<TableEntity>(TableQueries.PrefixFilter(teamId, WebhookRows.RowPrefix), cancellationToken: ct))
                    rows.Add(row);
                return rows;
            }) ?? [];
            var payload = new JsonObject { ["type"] = eventType, ["team_id"] = teamId, ["created_at"] = OrganizationsApi.Iso(Clock.NowMs()), ["data"] = data.DeepClone() }.ToJsonString();
            foreach (var s in subscriptions.Where(s => s.GetBoolean("Enabled") != false && WebhookRows.Wants(s, eventType)))
                await storage.Queue(storage.Names.WebhookDeliveriesQueue).SendMessageAsync(JsonSerializer.Serialize(
                    new WebhookDelivery(Ids.New("dlv"), teamId, s.RowKey[WebhookRows.RowPrefix.Length..], eventType, payload, 0)), ct);
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            log.LogError(ex, "Could not queue {Event} webhooks of team {Team}", eventType, teamId);
        }
    }

    public void Forget(string teamId) => cache.Remove(("webhooks", teamId));
}

/// <summary>
/// Queue trigger DeliverWebhooks: POSTs the event, signed; on failure re-queues it with exponential backoff,
/// and after <see cref="WebhookRows.DisableAfterFailures"/> consecutive failures disables the subscription
/// with an audit entry. It completes the queue message itself either way, so the host never poisons it, unless the
/// signing secret cannot be opened (its key is not configured): then it throws and leaves the subscription as it is.
/// </summary>
public sealed class WebhookDeliverer(StorageAccount storage, WebhookSecrets secrets, IConfiguration configuration, TimeProvider time, ILogger<WebhookDeliverer> log)
{
    private readonly bool _allowPrivate = configuration.GetValue("Webhooks:AllowPrivateTargets", false);
    private HttpClient? _http;
    private HttpClient Http => _http ??= WebhookTargets.CreateClient(_allowPrivate);

    [Function("DeliverWebhooks")]
    public async Task DeliverAsync([QueueTrigger("webhook-deliveries")] string message, CancellationToken ct)
    {
        var delivery = JsonSerializer.Deserialize<WebhookDelivery>(message) ?? throw new FormatException("Empty webhook delivery.");
        var row = await storage.TeamData.GetEntityIfExistsAsync<TableEntity>(delivery.TeamId, WebhookRows.RowPrefix + delivery.SubscriptionId, cancellationToken: ct);
        if (!row.HasValue || row.Value!.GetBoolean("Enabled") == false) return; // unsubscribed or disabled meanwhile
        var subscription = row.Value;
        var stored = subscription.GetString("Secret") ?? "";
        string secret;
        try
        {
            secret = secrets.Open(delivery.TeamId, delivery.SubscriptionId, stored);
        }
        catch (System.Security.Cryptography.CryptographicException ex)
        {
            // A key missing from configuration or an altered value: the host retries, then poisons the message; the subscription is left as it is.
            log.LogError(ex, "Webhook {Delivery}: the signing secret of subscription {Subscription} cannot be opened", delivery.DeliveryId, delivery.SubscriptionId);
            throw;
        }
        // Stored before encryption, or under a key being rotated out: sealed under the current key with this delivery's outcome.
        var resealed = secrets.NeedsSealing(stored) ? secrets.Seal(delivery.TeamId, delivery.SubscriptionId, secret) : null;

        var timestamp = time.GetUtcNow().ToUnixTimeSeconds();
        var request = new HttpRequestMessage(HttpMethod.Post, subscription.GetString("Url")) { Content = new StringContent(delivery.Payload, Encoding.UTF8, "application/json") };
        request.Headers.Add("X-QrFunctions-Event", delivery.EventType);
        request.Headers.Add("X-QrFunctions-Delivery", delivery.DeliveryId);
        request.Headers.Add("X-QrFunctions-Timestamp", timestamp.ToString());
        request.Headers.Add("X-QrFunctions-Signature", WebhookRows.Sign(secret, timestamp, delivery.Payload));
        bool delivered;
        try
        {
            using var response = await Http.SendAsync(request, ct);
            delivered = response.IsSuccessStatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            log.LogWarning("Webhook {Delivery} to subscription {Subscription} failed: {Error}", delivery.DeliveryId, delivery.SubscriptionId, ex.Message);
            delivered = false;
        }
        await RecordOutcomeAsync(delivery, subscription, delivered, resealed, ct);
    }

    private async Task RecordOutcomeAsync(WebhookDelivery delivery, TableEntity subscription, bool delivered, string? resealed, CancellationToken ct)
    {
        var failures = delivered ? 0 : (subscription.GetInt32("ConsecutiveFailures") ?? 0) + 1;
        // Only what this delivery changes: writing back the whole row read earlier could put back an older sealed secret.
        var outcome = new TableEntity(subscription.PartitionKey, subscription.RowKey) { ["ConsecutiveFailures"] = failures };
        if (resealed is not null) outcome["Secret"] = resealed;
        var disable = failures >= WebhookRows.DisableAfterFailures;
        var actions = new List<TableTransactionAction>();
        if (disable)
        {
            outcome["Enabled"] = false;
            actions.Add(new(TableTransactionActionType.Add, AuditEntry.For(delivery.TeamId, "system", "webhook-deliverer", "webhooks.disabled", "webhooks", delivery.SubscriptionId,
                new JsonObject { ["enabled"] = new JsonObject { ["before"] = true, ["after"] = false }, ["consecutive_failures"] = new JsonObject { ["before"] = failures - 1, ["after"] = failures } })));
            log.LogError("Webhook subscription {Subscription} disabled after {Failures} consecutive failures", delivery.SubscriptionId, failures);
        }
        actions.Insert(0, new(TableTransactionActionType.UpdateMerge, outcome, ETag.All));
        await storage.TeamData.SubmitTransactionAsync(actions, ct);
        if (delivered || disable) return;
        var delay = WebhookRows.Backoff[Math.Min(delivery.Attempt, WebhookRows.Backoff.Length - 1)];
        await storage.Queue(storage.Names.WebhookDeliveriesQueue).SendMessageAsync(JsonSerializer.Serialize(delivery with { Attempt = delivery.Attempt + 1 }), delay, cancellationToken: ct);
    }
}

/// <summary>/v1/webhooks: subscribe a URL to events, list, unsubscribe (admin).</summary>
[ApiAccess(ApiSurface.V1, Role.Admin), Tags("Webhooks")]
public sealed class WebhooksApi(StorageAccount storage, IConfiguration config, WebhookPublisher publisher, WebhookSecrets secrets)
{
    private const string Route = "v1/webhooks";

    private static object View(TableEntity row) => new
    {
        id = row.RowKey[WebhookRows.RowPrefix.Length..], url = row.GetString("Url"), events = JsonNode.Parse(row.GetString("Events") ?? "[]"),
        enabled = row.GetBoolean("Enabled") != false, consecutive_failures = row.GetInt32("ConsecutiveFailures") ?? 0,
        created_at = OrganizationsApi.Iso(row.GetInt64("CreatedAt") ?? 0),
    };

    [Function("WebhooksCreate"), EndpointSummary("Subscribe a URL to events; the signing secret is shown once")]
    public async Task<IResult> CreateAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = Route)] HttpRequest req)
    {
        var context = req.HttpContext;
        var caller = context.Caller();
        var body = await RequestJson.ReadObjectAsync(context);
        var uri = WebhookTargets.Validate(body.OptionalString("url", 2048));
        await WebhookTargets.EnsurePublicAsync(uri, config.GetValue("Webhooks:AllowPrivateTargets", false), context.RequestAborted);
        var events = body.OptionalStringArray("events", 20, 64) ?? throw ApiProblem.BadRequest("events is required (e.g. [\"codes.created\"]).");
        if (events.Count == 0 || events.Any(e => !WebhookRows.Events.Contains(e)))
            throw ApiProblem.BadRequest($"events must be some of {string.Join(", ", WebhookRows.Events)}.");
        var id = Ids.New("whk");
        var secret = "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(24)).Replace('+', '-').Replace('/', '_');
        var row = new TableEntity(caller.TeamId, WebhookRows.RowPrefix + id)
        {
            ["Url"] = uri.ToString(), ["Events"] = JsonSerializer.Serialize(events), ["Secret"] = secrets.Seal(caller.TeamId, id, secret), ["Enabled"] = true,
            ["ConsecutiveFailures"] = 0, ["CreatedAt"] = Clock.NowMs(),
        };
        await storage.TeamData.SubmitTransactionAsync(
        [
            new TableTransactionAction(TableTransactionActionType.Add, row),
            new TableTransactionAction(TableTransactionActionType.Add, AuditEntry.For(caller.TeamId, caller, "webhooks.created", "webhooks", id,
                new JsonObject { ["url"] = new JsonObject { ["before"] = null, ["after"] = uri.ToString() } })),
        ], context.RequestAborted);
        publisher.Forget(caller.TeamId);
        return Envelope.V1(new { id, url = uri.ToString(), events, enabled = true, signing_secret = secret }, 201);
    }

    [Function("WebhooksList"), EndpointSummary("The workspace's subscriptions")]
    public async Task<IResult> ListAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = Route)] HttpRequest req)
    {
        var context = req.HttpContext;
        var rows = new List<object>();
        await foreach (var row in storage.TeamData.QueryAsync<TableEntity>(TableQueries.PrefixFilter(context.Caller().TeamId, WebhookRows.RowPrefix), cancellationToken: context.RequestAborted))
            rows.Add(View(row));
        return Envelope.V1List(rows, null);
    }

    [Function("WebhooksDelete"), EndpointSummary("Unsubscribe")]
    public async Task<IResult> DeleteAsync([HttpTrigger(AuthorizationLevel.Anonymous, "delete", Route = Route + "/{id}")] HttpRequest req, string id)
    {
        var context = req.HttpContext;
        var caller = context.Caller();
        if (id.IndexOfAny(['/', '\\', '#', '?']) >= 0) throw ApiProblem.NotFound("Webhook not found.");
        try
        {
            await storage.TeamData.SubmitTransactionAsync(
            [
                new TableTransactionAction(TableTransactionActionType.Delete, new TableEntity(caller.TeamId, WebhookRows.RowPrefix + id), ETag.All),
                new TableTransactionAction(TableTransactionActionType.Add, AuditEntry.For(caller.TeamId, caller, "webhooks.deleted", "webhooks", id, null)),
            ], context.RequestAborted);
        }
        catch (TableTransactionFailedException ex) when (ex.Status == 404)
        {
            throw ApiProblem.NotFound("Webhook not found.");
        }
        publisher.Forget(caller.TeamId);
        return Envelope.V1(new { id, deleted = true });
    }
}
