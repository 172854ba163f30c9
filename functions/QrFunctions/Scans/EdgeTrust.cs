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
public sealed record EdgeTrust(string? FrontDoorId, int ForwardedForHops)
{
    public const string FrontDoorIdHeader = "X-Azure-FDID";
    public const string VisitorHostHeader = "X-QrFunctions-Visitor-Host";
    public const string VisitorAddressHeader = "X-QrFunctions-Visitor-IP";

    public static EdgeTrust From(IConfiguration configuration) =>
        new(configuration["QrFunctions:FrontDoorId"] is { } id && !string.IsNullOrWhiteSpace(id) ? id.Trim() : null, ScanRequest.TrustedHops(configuration));

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
