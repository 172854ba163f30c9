using Microsoft.Azure.Functions.Worker;
using System.Globalization;
using System.Text.Json.Nodes;
using Azure;
using Azure.Data.Tables;
using QrFunctions.Api;
using QrFunctions.AuditLogs;
using QrFunctions.Auth;
using QrFunctions.Organizations;
using QrFunctions.Storage;

namespace QrFunctions.ApiKeys;

/// <summary>
/// /v1/api-keys. A key lives in two places: the apikeys row (PartitionKey = keyId; what authentication reads)
/// and a listing row "apikey|{keyId}" in the workspace's teamdata partition, written in one transaction with
/// the audit entry. Creation writes that transaction FIRST and the apikeys row second: a crash in between
/// leaves a listed key that cannot authenticate (shown as revoked), never a working key without its audit
/// entry. Revocation writes the apikeys row first (the key stops at once), then the listing row and entry.
/// </summary>
[ApiAccess(ApiSurface.V1, Role.Admin), Tags("API keys")]
public sealed class ApiKeysApi(StorageAccount storage, TenantDirectory directory)
{
    public const string RowPrefix = "apikey|";
    private const string Route = "v1/api-keys";

    [Function("ApiKeysCreate"), EndpointSummary("Create a key; its secret is shown only in this response")]
    public async Task<IResult> CreateAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = Route)] HttpRequest req)
    {
        var context = req.HttpContext;
        var caller = context.Caller();
        var body = await RequestJson.ReadObjectAsync(context);
        var name = body.RequiredString("name", 255).Trim();
        var scope = body.OptionalString("scope", 16) ?? KeyScopes.Workspace;
        if (scope is not (KeyScopes.Workspace or KeyScopes.User)) throw ApiProblem.BadRequest("scope must be workspace or user.");
        if (scope == KeyScopes.User && caller.Key.UserEmail is null) throw ApiProblem.BadRequest("scope user needs a key that acts for a user.");
        long? expiresAt = null;
        if (body.OptionalString("expires_at", 40) is { } expires)
        {
            if (!DateTimeOffset.TryParse(expires, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at) || at <= DateTimeOffset.UtcNow)
                throw ApiProblem.BadRequest("expires_at must be a future ISO 8601 time.");
            expiresAt = at.ToUnixTimeMilliseconds();
        }
        var issued = KeySecrets.Issue();
        var now = Clock.NowMs();
        var listing = new TableEntity(caller.TeamId, RowPrefix + issued.KeyId)
        {
            ["Name"] = name, ["Scope"] = scope, ["CreatedAt"] = now, ["ExpiresAt"] = expiresAt, ["CreatedBy"] = caller.ActorId,
        };
        await storage.TeamData.SubmitTransactionAsync(
        [
            new TableTransactionAction(TableTransactionActionType.Add, listing),
            new TableTransactionAction(TableTransactionActionType.Add, AuditEntry.For(caller.TeamId, caller.ActorType, caller.ActorId, "api_keys.created", "api_keys", issued.KeyId,
                new JsonObject { ["name"] = new JsonObject { ["before"] = null, ["after"] = name }, ["scope"] = new JsonObject { ["before"] = null, ["after"] = scope } })),
        ], context.RequestAborted);
        await storage.ApiKeys.AddEntityAsync(new ApiKey
        {
            PartitionKey = issued.KeyId, OrgId = caller.OrgId, HomeTeamId = caller.TeamId, Scope = scope,
            UserEmail = scope == KeyScopes.User ? caller.Key.UserEmail : null, Name = name, SecretHash = KeySecrets.Hash(issued.Secret),
            CreatedAt = now, CreatedBy = caller.ActorId, ExpiresAt = expiresAt,
        }, context.RequestAborted);
        return Envelope.V1(new
        {
            id = issued.KeyId, client_id = issued.KeyId, client_secret = issued.Secret, token = issued.BearerToken, prefix = KeySecrets.DisplayPrefix(issued.KeyId),
            name, scope, created_at = OrganizationsApi.Iso(now), expires_at = expiresAt is { } e ? OrganizationsApi.Iso(e) : null,
        }, 201);
    }

    [Function("ApiKeysList"), EndpointSummary("Keys of the workspace (never their secrets)")]
    public async Task<IResult> ListAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = Route)] HttpRequest req)
    {
        var context = req.HttpContext;
        var caller = context.Caller();
        var listed = new List<TableEntity>();
        await foreach (var row in storage.TeamData.QueryAsync<TableEntity>(TableQueries.PrefixFilter(caller.TeamId, RowPrefix), cancellationToken: context.RequestAborted))
            listed.Add(row);
        var keys = await Task.WhenAll(listed.Select(async row =>
        {
            var id = row.RowKey[RowPrefix.Length..];
            var key = await storage.ApiKeys.GetEntityIfExistsAsync<ApiKey>(id, ApiKey.Row, cancellationToken: context.RequestAborted);
            var k = key.HasValue ? key.Value : null;
            return new
            {
                id, prefix = KeySecrets.DisplayPrefix(id), name = row.GetString("Name"), scope = row.GetString("Scope"),
                created_at = OrganizationsApi.Iso(row.GetInt64("CreatedAt") ?? 0),
                last_used_at = k?.LastUsedAt is { } used ? OrganizationsApi.Iso(used) : null,
                expires_at = row.GetInt64("ExpiresAt") is { } e ? OrganizationsApi.Iso(e) : null,
                revoked = k is null || k.Revoked,
            };
        }));
        return Envelope.V1List(keys.OrderBy(k => k.created_at), null);
    }

    [Function("ApiKeysRevoke"), EndpointSummary("Revoke a key: its next call is 401")]
    public async Task<IResult> RevokeAsync([HttpTrigger(AuthorizationLevel.Anonymous, "delete", Route = Route + "/{id}")] HttpRequest req, string id)
    {
        var context = req.HttpContext;
        var caller = context.Caller();
        if (id.IndexOfAny(['/', '\\', '#', '?']) >= 0) throw ApiProblem.NotFound("API key not found.");
        var listing = await storage.TeamData.GetEntityIfExistsAsync<TableEntity>(caller.TeamId, RowPrefix + id, cancellationToken: context.RequestAborted);
        var key = await storage.ApiKeys.GetEntityIfExistsAsync<ApiKey>(id, ApiKey.Row, cancellationToken: context.RequestAborted);
        if (!listing.HasValue || !key.HasValue || key.Value!.OrgId != caller.OrgId) throw ApiProblem.NotFound("API key not found.");
        var k = key.Value;
        if (!k.Revoked)
        {
            k.Revoked = true;
            k.RevokedAt = Clock.NowMs();
            await storage.ApiKeys.UpdateEntityAsync(k, ETag.All, TableUpdateMode.Replace, context.RequestAborted);
            directory.ForgetKey(id);
            listing.Value!["Revoked"] = true;
            await storage.TeamData.SubmitTransactionAsync(
            [
                new TableTransactionAction(TableTransactionActionType.UpdateReplace, listing.Value, ETag.All),
                new TableTransactionAction(TableTransactionActionType.Add, AuditEntry.For(caller.TeamId, caller.ActorType, caller.ActorId, "api_keys.revoked", "api_keys", id,
                    new JsonObject { ["revoked"] = new JsonObject { ["before"] = false, ["after"] = true } })),
            ], context.RequestAborted);
        }
        return Envelope.V1(new { id, revoked = true });
    }
}
