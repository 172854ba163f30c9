using System.Net;

namespace QrFunctions.Scans;

/// <summary>
/// What the app may believe about a request that reached it through a proxy: the host name the visitor used (a team's
/// custom domain decides which codes a scan resolves) and the address the visitor connected from (rate limits,
/// visitor hashes, geo).
/// <para>
/// Behind Azure Front Door the origin host header is the app's azurewebsites name, and under the isolated worker the
/// Functions host replaces X-Forwarded-Host/-For/-Proto with its own values while other headers pass unchanged. So our
/// Front Door profile's rule set writes the visitor's host name (<c>{hostname}</c>) and socket address
/// (<c>{socket_ip}</c>) into <see cref="VisitorHostHeader"/> and <see cref="VisitorAddressHeader"/>, overwriting
/// whatever a visitor sent (infra/modules/frontdoor.bicep). They are believed only when X-Azure-FDID equals
/// QrFunctions:FrontDoorId, the id of that profile; without the setting, or with another or no id, they are ignored
/// and the request's own Host and connection address (or X-Forwarded-For hops, <see cref="ScanRequest.TrustedHops"/>)
/// count, as without Front Door.
/// </para>
/// </summary>
public sealed record EdgeTrust(string? FrontDoorId, int ForwardedForHops, string? CountryHeader = null, string? CityHeader = null)
{
    public const string FrontDoorIdHeader = "X-Azure-FDID";
    public const string VisitorHostHeader = "X-QrFunctions-Visitor-Host";
    public const string VisitorAddressHeader = "X-QrFunctions-Visitor-IP";
    /// <summary>The visitor's country as our Front Door profile's rule set writes it ({geo_country}), overwriting what a visitor sent.</summary>
    public const string VisitorCountryHeader = "X-QrFunctions-Visitor-Country";

    public static EdgeTrust From(IConfiguration configuration) =>
        new(configuration["QrFunctions:FrontDoorId"] is { } id && !string.IsNullOrWhiteSpace(id) ? id.Trim() : null, ScanRequest.TrustedHops(configuration),
            NonEmpty(configuration["QrFunctions:GeoCountryHeader"]), NonEmpty(configuration["QrFunctions:GeoCityHeader"]));

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    /// <summary>
    /// The visitor's country (ISO 3166 alpha-2) and city as an edge we trust says them, or ("", "") for the geo database to
    /// decide: through our Front Door, <see cref="VisitorCountryHeader"/> (no city); otherwise the headers
    /// QrFunctions:GeoCountryHeader / GeoCityHeader name (a CDN such as Cloudflare's CF-IPCountry), believed only when the
    /// app trusts the proxy in front of it (QrFunctions:TrustForwardedFor), since a visitor reaching the app directly could
    /// write them. "XX" (unknown) and "T1" (Tor) are no country.
    /// </summary>
    public (string Country, string City) Geo(HttpContext context)
    {
        string country = "", city = "";
        if (CameThroughFrontDoor(context)) country = Single(context, VisitorCountryHeader) ?? "";
        else if (ForwardedForHops > 0)
        {
            country = CountryHeader is null ? "" : ScanRequest.EdgeHeader(context, CountryHeader, 2);
            city = CityHeader is null ? "" : ScanRequest.EdgeHeader(context, CityHeader, 64);
        }
        country = country.ToUpperInvariant();
        if (country.Length != 2 || !country.All(char.IsAsciiLetterUpper) || country is "XX" or "T1") country = "";
        return (country, city);
    }

    /// <summary>The request carries our Front Door profile's id (exactly one X-Azure-FDID, equal to the configured one).</summary>
    public bool CameThroughFrontDoor(HttpContext context) =>
        FrontDoorId is not null && context.Request.Headers[FrontDoorIdHeader] is { Count: 1 } ids
        && string.Equals(ids[0]?.Trim(), FrontDoorId, StringComparison.OrdinalIgnoreCase);

    /// <summary>The host name the visitor asked for: Front Door's word for it when the request came through our profile, else Host.</summary>
    public string Host(HttpContext context) =>
        CameThroughFrontDoor(context) && Single(context, VisitorHostHeader) is { } named && ScanHandler.HostOf(named) is { } host
            ? host
            : context.Request.Host.Host;

    /// <summary>The visitor's address: Front Door's word for it when the request came through our profile, else the connection's (or trusted hops').</summary>
    public IPAddress? ClientAddress(HttpContext context) =>
        CameThroughFrontDoor(context) && Single(context, VisitorAddressHeader) is { } text && ScanRequest.TryParseAddress(text, out var address)
            ? address
            : ScanRequest.ClientAddress(context, ForwardedForHops);

    private static string? Single(HttpContext context, string header) =>
        context.Request.Headers[header] is { Count: 1 } values && !string.IsNullOrWhiteSpace(values[0]) ? values[0]!.Trim() : null;
}
