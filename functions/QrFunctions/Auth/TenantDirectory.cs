using Azure;
using Microsoft.Extensions.Caching.Memory;
using QrFunctions.Organizations;
using QrFunctions.Storage;
using QrFunctions.Teams;

namespace QrFunctions.Auth;

/// <summary>
/// Point reads of keys, organizations, teams and memberships for every authenticated call, cached for
/// a short time (QrFunctions:AuthCacheSeconds, default 1 s). Changes made on this instance evict at
/// once; other instances see them within that time. That bounds how long a revoked key or a paused
/// member can still act on another instance, in exchange for not paying three reads per call.
/// </summary>
public sealed class TenantDirectory(StorageAccount storage, IMemoryCache cache, IConfiguration configuration)
{
    private readonly TimeSpan _ttl = TimeSpan.FromSeconds(configuration.GetValue("QrFunctions:AuthCacheSeconds", 1.0));

    public Task<ApiKey?> KeyAsync(string keyId) =>
        CachedAsync(("key", keyId), () => storage.ApiKeys.GetEntityIfExistsAsync<ApiKey>(keyId, ApiKey.Row));

    public Task<Organization?> OrgAsync(string orgId) =>
        CachedAsync(("org", orgId), () => storage.Orgs.GetEntityIfExistsAsync<Organization>(orgId, Organization.Row));

    public Task<Team?> TeamAsync(string teamId) =>
        CachedAsync(("team", teamId), () => storage.TeamData.GetEntityIfExistsAsync<Team>(teamId, Team.Row));

    public Task<Membership?> MembershipAsync(string teamId, string email) =>
        CachedAsync(("member", teamId + "|" + email.ToLowerInvariant()),
            () => storage.TeamData.GetEntityIfExistsAsync<Membership>(teamId, Membership.RowOf(email)));

    public void ForgetKey(string keyId) => cache.Remove(("key", keyId));
    public void ForgetOrg(string orgId) => cache.Remove(("org", orgId));
    public void ForgetTeam(string teamId) => cache.Remove(("team", teamId));
    public void ForgetMembership(string teamId, string email) => cache.Remove(("member", teamId + "|" + email.ToLowerInvariant()));

    private async Task<T?> CachedAsync<T>((string, string) key, Func<Task<NullableResponse<T>>> read) where T : class
    {
        if (cache.TryGetValue(key, out T? hit)) return hit;
        // Ids storage cannot hold as keys cannot exist (headers and bodies bring any text), so skip the round trip.
        if (!Api.RequestJson.IsStorableId(key.Item2, 512)) return null;
        var response = await read();
        var value = response.HasValue ? response.Value : null;
        cache.Set(key, value, _ttl);
        return value;
    }
}
