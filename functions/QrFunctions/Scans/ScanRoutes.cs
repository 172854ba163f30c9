using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Azure.Data.Tables;
using Microsoft.Extensions.Caching.Memory;
using QrFunctions.Storage;

namespace QrFunctions.Scans;

/// <summary>A routes row as a scan needs it: owner, state and the published Qr JSON (null when the row has none).</summary>
public sealed record ResolvedRoute(string DisplayId, string QrId, string TeamId, string OrgId, string State, JsonObject? Qr, long UpdatedAt)
{
    public bool IsServable => State == QrRoute.States.Live && Qr is not null && Qr["deleted"]?.GetValueKind() is not System.Text.Json.JsonValueKind.True;

    /// <summary>
    /// The redirect of a WEB or SHORT_LINK code (null for other types or without an http(s) target; a PDF code has a page):
    /// the same for every scan of this cached row, so its URL is parsed once per cache entry, not per scan.
    /// </summary>
    public string? DirectTarget { get; } = Qr is null ? null : QrContent.Type(Qr) switch
    {
        "WEB" or "SHORT_LINK" => QrContent.HttpUrl(QrContent.Text(Qr, "qrRedirectUrl")),
        _ => null,
    };
}

/// <summary>
/// Resolves displayIds to routes rows with an in-memory cache, so a scan costs no table read while its
/// entry is fresh: hits live QrFunctions:ScanCacheSeconds (default 5 s; 0 turns caching off), misses
/// (unknown displayIds) one second, so guessing ids cannot hammer storage. A change to a code is therefore
/// served by every instance within that TTL.
/// </summary>
public sealed partial class ScanRoutes(StorageAccount storage, IMemoryCache cache, IConfiguration configuration)
{
    private readonly TimeSpan _hitTtl = TimeSpan.FromSeconds(configuration.GetValue("QrFunctions:ScanCacheSeconds", 5.0));
    private readonly TimeSpan _missTtl = TimeSpan.FromSeconds(Math.Min(1.0, configuration.GetValue("QrFunctions:ScanCacheSeconds", 5.0)));

    /// <summary>The displayId alphabet of CreateQrRequest; anything else cannot exist, so it costs no read.</summary>
    [GeneratedRegex("^[a-zA-Z0-9\\-_.~%]{1,256}$")]
    public static partial Regex DisplayIdPattern();

    public async Task<ResolvedRoute?> FindAsync(string displayId, CancellationToken ct)
    {
        if (!DisplayIdPattern().IsMatch(displayId)) return null;
        var key = ("route", displayId);
        if (cache.TryGetValue(key, out ResolvedRoute? hit)) return hit;
        var response = await storage.Routes.GetEntityIfExistsAsync<TableEntity>(displayId, QrRoute.Row, cancellationToken: ct);
        var route = response.HasValue ? FromRow(response.Value!) : null;
        var ttl = route is null ? _missTtl : _hitTtl;
        if (ttl > TimeSpan.Zero) cache.Set(key, route, ttl);
        return route;
    }

    private static ResolvedRoute FromRow(TableEntity row)
    {
        JsonObject? qr;
        try { qr = EntityJson.Read(row, QrRoute.QrProperty); }
        catch (System.Text.Json.JsonException) { qr = null; } // unreadable content is nothing to serve, not a 500
        return new ResolvedRoute(row.PartitionKey, row.GetString("QrId") ?? "", row.GetString("TeamId") ?? "", row.GetString("OrgId") ?? "",
            row.GetString("State") ?? "", qr, row.GetInt64("UpdatedAt") ?? 0);
    }
}
