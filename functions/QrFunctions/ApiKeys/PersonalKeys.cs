using Azure;
using Azure.Data.Tables;
using QrFunctions.Auth;
using QrFunctions.Storage;

namespace QrFunctions.ApiKeys;

/// <summary>
/// users table, PartitionKey = the person's email, RowKey = "apikey|{keyId}": the person's own (user-scope) keys.
/// One partition query lists a person's keys, which is what each of them sees, what an admin reads for each
/// member of their team and the owner for each member of the organization. The apikeys row stays the one
/// authentication reads; this row is written first, so a crash in between leaves a listed key that cannot
/// authenticate (shown as revoked), never a working key nobody can list.
/// </summary>
public sealed class PersonalKeyRow : ITableEntity
{
    public const string RowPrefix = "apikey|";

    public string PartitionKey { get; set; } = "";
    public string RowKey { get; set; } = "";
    public DateTimeOffset? Timestamp { get; set; }
    public ETag ETag { get; set; }

    public string KeyId => RowKey[RowPrefix.Length..];
    public string OrgId { get; set; } = "";
    public string HomeTeamId { get; set; } = "";
    public string Name { get; set; } = "";
    public long CreatedAt { get; set; }
    public string CreatedBy { get; set; } = "";
    public long? ExpiresAt { get; set; }
}

/// <summary>Issuing, listing and revoking the keys that act as one member (user scope).</summary>
public static class PersonalKeys
{
    /// <summary>Stores a new key acting as <paramref name="email"/> (hash only) and returns its one-time secret.</summary>
    public static async Task<IssuedKey> IssueAsync(StorageAccount storage, string orgId, string homeTeamId, string email, string name, string actorId, long? expiresAt,
        CancellationToken ct = default)
    {
        var issued = KeySecrets.Issue();
        var now = Clock.NowMs();
        email = email.ToLowerInvariant();
        await storage.Users.AddEntityAsync(new PersonalKeyRow
        {
            PartitionKey = email, RowKey = PersonalKeyRow.RowPrefix + issued.KeyId, OrgId = orgId, HomeTeamId = homeTeamId, Name = name,
            CreatedAt = now, CreatedBy = actorId, ExpiresAt = expiresAt,
        }, ct);
        await storage.ApiKeys.AddEntityAsync(new ApiKey
        {
            PartitionKey = issued.KeyId, OrgId = orgId, HomeTeamId = homeTeamId, Scope = KeyScopes.User, UserEmail = email,
            Name = name, SecretHash = KeySecrets.Hash(issued.Secret), CreatedAt = now, CreatedBy = actorId, ExpiresAt = expiresAt,
        }, ct);
        return issued;
    }

    /// <summary>The person's keys in <paramref name="orgId"/>, as listed (the apikeys row says whether each still works).</summary>
    public static async Task<List<PersonalKeyRow>> OfAsync(StorageAccount storage, string email, string orgId, CancellationToken ct)
    {
        var keys = new List<PersonalKeyRow>();
        await foreach (var row in storage.Users.QueryAsync<PersonalKeyRow>(TableQueries.PrefixFilter(email.ToLowerInvariant(), PersonalKeyRow.RowPrefix), cancellationToken: ct))
            if (row.OrgId == orgId) keys.Add(row);
        return keys;
    }

    /// <summary>
    /// Revokes every key acting as <paramref name="email"/> in <paramref name="orgId"/> (the person left the organization).
    /// Reads the apikeys table by owner rather than the listing, so keys issued before the listing existed stop too;
    /// that is a table scan, paid only when a person leaves. Returns the keys revoked.
    /// </summary>
    public static async Task<List<string>> RevokeAllAsync(StorageAccount storage, TenantDirectory directory, string orgId, string email, CancellationToken ct)
    {
        var revoked = new List<string>();
        var filter = TableClient.CreateQueryFilter($"UserEmail eq {email.ToLowerInvariant()} and OrgId eq {orgId} and Revoked eq false");
        await foreach (var key in storage.ApiKeys.QueryAsync<ApiKey>(filter, cancellationToken: ct))
        {
            await RevokeAsync(storage, directory, key, ct);
            revoked.Add(key.Id);
        }
        return revoked;
    }

    /// <summary>Stops a key at once on this instance (others within the tenant cache time).</summary>
    public static async Task RevokeAsync(StorageAccount storage, TenantDirectory directory, ApiKey key, CancellationToken ct)
    {
        key.Revoked = true;
        key.RevokedAt = Clock.NowMs();
        await storage.ApiKeys.UpdateEntityAsync(key, ETag.All, TableUpdateMode.Replace, ct);
        directory.ForgetKey(key.Id);
    }
}
