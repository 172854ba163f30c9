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
/// /v1/api-keys. A key lives in two places: the apikeys row (PartitionKey = keyId; what authentication reads) and
/// a listing row: workspace keys as "apikey|{keyId}" in the workspace's teamdata partition (written in one
/// transaction with the audit entry), personal keys in the person's users partition (<see cref="PersonalKeyRow"/>).
/// The listing is written FIRST and the apikeys row second: a crash in between leaves a listed key that cannot
/// authenticate (shown as revoked), never a working key without its listing or audit entry. Revocation writes the
/// apikeys row first (the key stops at once), then the listing and the entry.
/// Who may do what: everyone with a user key creates, lists and revokes their own personal keys; an admin also
/// the workspace's keys and the personal keys of the workspace's members; the owner every key of the organization.
/// </summary>
[ApiAccess(ApiSurface.V1), Tags("API keys")]
public sealed class ApiKeysApi(StorageAccount storage, TenantDirectory directory)
{
    public const string RowPrefix = "apikey|";
    private const string Route = "v1/api-keys";

    [Function("ApiKeysCreate"), EndpointSummary("Create a key (scope workspace: admin; scope user: your own); its secret is shown only in this response")]
    public async Task<IResult> CreateAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = Route)] HttpRequest req)
    {
        var context = req.HttpContext;
        var caller = context.Caller();
        var body = await RequestJson.ReadObjectAsync(context);
        var name = body.RequiredString("name", 255).Trim();
        var scope = body.OptionalString("scope", 16) ?? KeyScopes.Workspace;
        if (scope is not (KeyScopes.Workspace or KeyScopes.User)) throw ApiProblem.BadRequest("scope must be workspace or user.");
        if (scope == KeyScopes.User && caller.Key.UserEmail is null) throw ApiProblem.BadRequest("scope user needs a key that acts for a user.");
        if (scope == KeyScopes.Workspace && caller.Role < Role.Admin)
            throw ApiProblem.Forbidden($"Workspace keys need the admin role; the key acts as {Roles.Name(caller.Role)}. Create a personal key with scope user.");
        long? expiresAt = null;
        if (body.OptionalString("expires_at", 40) is { } expires)
        {
            if (!DateTimeOffset.TryParse(expires, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at) || at <= DateTimeOffset.UtcNow)
                throw ApiProblem.BadRequest("expires_at must be a future ISO 8601 time.");
            expiresAt = at.ToUnixTimeMilliseconds();
        }
        var audit = AuditEntry.For(caller.TeamId, caller, "api_keys.created", "api_keys", "",
            new JsonObject { ["name"] = new JsonObject { ["before"] = null, ["after"] = name }, ["scope"] = new JsonObject { ["before"] = null, ["after"] = scope } });
        IssuedKey issued;
        if (scope == KeyScopes.User)
        {
            issued = await PersonalKeys.IssueAsync(storage, caller.OrgId, caller.TeamId, caller.Key.UserEmail!, name, caller.ActorId, expiresAt, context.RequestAborted);
            audit.ResourceId = issued.KeyId;
            await storage.TeamData.AddEntityAsync(audit, context.RequestAborted);
        }
        else
        {
            issued = KeySecrets.Issue();
            audit.ResourceId = issued.KeyId;
            var listing = new TableEntity(caller.TeamId, RowPrefix + issued.KeyId)
            {
                ["Name"] = name, ["Scope"] = scope, ["CreatedAt"] = Clock.NowMs(), ["ExpiresAt"] = expiresAt, ["CreatedBy"] = caller.ActorId,
            };
            await storage.TeamData.SubmitTransactionAsync(
            [
                new TableTransactionAction(TableTransactionActionType.Add, listing),
                new TableTransactionAction(TableTransactionActionType.Add, audit),
            ], context.RequestAborted);
            await storage.ApiKeys.AddEntityAsync(new ApiKey
            {
                PartitionKey = issued.KeyId, OrgId = caller.OrgId, HomeTeamId = caller.TeamId, Scope = scope, Name = name, SecretHash = KeySecrets.Hash(issued.Secret),
                CreatedAt = Clock.NowMs(), CreatedBy = caller.ActorId, ExpiresAt = expiresAt,
            }, context.RequestAborted);
        }
        return Envelope.V1(new
        {
            id = issued.KeyId, client_id = issued.KeyId, client_secret = issued.Secret, token = issued.BearerToken, prefix = KeySecrets.DisplayPrefix(issued.KeyId),
            name, scope, user_email = scope == KeyScopes.User ? caller.Key.UserEmail : null, workspace_id = caller.TeamId,
            created_at = OrganizationsApi.Iso(Clock.NowMs()), expires_at = expiresAt is { } e ? OrganizationsApi.Iso(e) : null,
        }, 201);
    }

    [Function("ApiKeysList"), EndpointSummary("Keys you may manage (never their secrets): your own; an admin's workspace and its members'; the owner's whole organization")]
    public async Task<IResult> ListAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = Route)] HttpRequest req)
    {
        var context = req.HttpContext;
        var caller = context.Caller();
        var ct = context.RequestAborted;
        var listed = new Dictionary<string, Listed>();
        void Add(Listed l) => listed.TryAdd(l.Id, l);

        if (caller.Key.UserEmail is { } own)
            foreach (var row in await PersonalKeys.OfAsync(storage, own, caller.OrgId, ct)) Add(Listed.Personal(row, own));
        if (caller.Role >= Role.Admin)
        {
            var teams = caller.Role == Role.Owner ? await WorkspacesOfAsync(caller.OrgId, ct) : [caller.TeamId];
            foreach (var teamId in teams)
            {
                await foreach (var row in storage.TeamData.QueryAsync<TableEntity>(TableQueries.PrefixFilter(teamId, RowPrefix), cancellationToken: ct))
                    Add(Listed.Workspace(row));
                foreach (var email in await MemberEmailsAsync(teamId, ct))
                    foreach (var row in await PersonalKeys.OfAsync(storage, email, caller.OrgId, ct)) Add(Listed.Personal(row, email));
            }
        }

        var keys = await Task.WhenAll(listed.Values.Select(async l =>
        {
            var key = await storage.ApiKeys.GetEntityIfExistsAsync<ApiKey>(l.Id, ApiKey.Row, cancellationToken: ct);
            var k = key.HasValue ? key.Value : null;
            return new
            {
                id = l.Id, prefix = KeySecrets.DisplayPrefix(l.Id), name = l.Name, scope = l.Scope, user_email = l.UserEmail ?? k?.UserEmail, workspace_id = l.WorkspaceId,
                created_at = OrganizationsApi.Iso(l.CreatedAt),
                last_used_at = k?.LastUsedAt is { } used ? OrganizationsApi.Iso(used) : null,
                expires_at = l.ExpiresAt is { } e ? OrganizationsApi.Iso(e) : null,
                revoked = k is null || k.Revoked,
            };
        }));
        return Envelope.V1List(keys.OrderBy(k => k.created_at).ThenBy(k => k.id, StringComparer.Ordinal), null);
    }

    /// <summary>A key as listed: workspace keys from the team partition, personal keys from the person's partition.</summary>
    private sealed record Listed(string Id, string Name, string Scope, string? UserEmail, string WorkspaceId, long CreatedAt, long? ExpiresAt)
    {
        public static Listed Workspace(TableEntity row) => new(row.RowKey[RowPrefix.Length..], row.GetString("Name") ?? "", row.GetString("Scope") ?? KeyScopes.Workspace,
            null, row.PartitionKey, row.GetInt64("CreatedAt") ?? 0, row.GetInt64("ExpiresAt"));

        public static Listed Personal(PersonalKeyRow row, string email) =>
            new(row.KeyId, row.Name, KeyScopes.User, email, row.HomeTeamId, row.CreatedAt, row.ExpiresAt);
    }

    [Function("ApiKeysRevoke"), EndpointSummary("Revoke a key you may manage: its next call is 401")]
    public async Task<IResult> RevokeAsync([HttpTrigger(AuthorizationLevel.Anonymous, "delete", Route = Route + "/{id}")] HttpRequest req, string id)
    {
        var context = req.HttpContext;
        var caller = context.Caller();
        var ct = context.RequestAborted;
        if (id.IndexOfAny(['/', '\\', '#', '?']) >= 0) throw ApiProblem.NotFound("API key not found.");
        var key = await storage.ApiKeys.GetEntityIfExistsAsync<ApiKey>(id, ApiKey.Row, cancellationToken: ct);
        // Keys the caller may not manage are indistinguishable from keys that do not exist.
        if (!key.HasValue || key.Value!.OrgId != caller.OrgId || !await MayManageAsync(caller, key.Value, ct)) throw ApiProblem.NotFound("API key not found.");
        var k = key.Value;
        if (!k.Revoked)
        {
            await PersonalKeys.RevokeAsync(storage, directory, k, ct);
            var revokedEntry = AuditEntry.For(caller.TeamId, caller, "api_keys.revoked", "api_keys", id,
                new JsonObject { ["revoked"] = new JsonObject { ["before"] = false, ["after"] = true } });
            var listing = await storage.TeamData.GetEntityIfExistsAsync<TableEntity>(k.HomeTeamId, RowPrefix + id, cancellationToken: ct);
            if (listing.HasValue && k.HomeTeamId == caller.TeamId)
            {
                listing.Value!["Revoked"] = true;
                await storage.TeamData.SubmitTransactionAsync(
                [
                    new TableTransactionAction(TableTransactionActionType.UpdateReplace, listing.Value, ETag.All),
                    new TableTransactionAction(TableTransactionActionType.Add, revokedEntry),
                ], ct);
            }
            else
            {
                await storage.TeamData.AddEntityAsync(revokedEntry, ct);
            }
        }
        return Envelope.V1(new { id, revoked = true });
    }

    /// <summary>Your own personal keys; as admin the workspace's keys and its members'; as owner any key of the organization.</summary>
    private async Task<bool> MayManageAsync(Caller caller, ApiKey key, CancellationToken ct)
    {
        if (key.Scope == KeyScopes.User && key.UserEmail is { } email && email == caller.Key.UserEmail) return true;
        if (caller.Role == Role.Owner) return true;
        if (caller.Role < Role.Admin) return false;
        if (key.Scope == KeyScopes.Workspace) return key.HomeTeamId == caller.TeamId;
        return key.UserEmail is { } member && await directory.MembershipAsync(caller.TeamId, member) is not null;
    }

    private async Task<List<string>> WorkspacesOfAsync(string orgId, CancellationToken ct)
    {
        var teams = new List<string>();
        await foreach (var link in storage.Orgs.QueryAsync<Teams.WorkspaceLink>(TableQueries.PrefixFilter(orgId, Teams.WorkspaceLink.RowPrefix), cancellationToken: ct))
            teams.Add(link.TeamId);
        return teams;
    }

    private async Task<List<string>> MemberEmailsAsync(string teamId, CancellationToken ct)
    {
        var emails = new List<string>();
        await foreach (var m in storage.TeamData.QueryAsync<Teams.Membership>(TableQueries.PrefixFilter(teamId, Teams.Membership.RowPrefix), cancellationToken: ct))
            emails.Add(m.Email);
        return emails;
    }
}
