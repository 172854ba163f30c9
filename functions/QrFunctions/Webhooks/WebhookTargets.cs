using System.Net;
using System.Net.Sockets;
using QrFunctions.Api;

namespace QrFunctions.Webhooks;

/// <summary>
/// Where webhooks may go: http(s) to public addresses only, unless Webhooks:AllowPrivateTargets is set
/// (development, tests). Checked when a subscription is made and again at connect time, on the very
/// address the socket connects to, so a DNS answer that changes later (rebinding) cannot reach inside.
/// </summary>
public static class WebhookTargets
{
    public static Uri Validate(string? url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps) || uri.Host.Length == 0)
            throw ApiProblem.BadRequest("url must be an absolute http or https URL.");
        if (uri.UserInfo.Length > 0) throw ApiProblem.BadRequest("url must not contain credentials.");
        return uri;
    }

    public static async Task EnsurePublicAsync(Uri uri, bool allowPrivate, CancellationToken ct)
    {
        if (allowPrivate) return;
        IPAddress[] addresses;
        try { addresses = IPAddress.TryParse(uri.Host.Trim('[', ']'), out var literal) ? [literal] : await Dns.GetHostAddressesAsync(uri.DnsSafeHost, ct); }
        catch (SocketException) { throw ApiProblem.BadRequest($"url host '{uri.Host}' does not resolve."); }
        if (addresses.Length == 0 || addresses.Any(IsPrivate))
            throw ApiProblem.BadRequest($"url host '{uri.Host}' resolves to a loopback, private or link-local address; webhooks go to public addresses only.");
    }

    public static bool IsPrivate(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) || address.Equals(IPAddress.IPv6None)) return true;
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
            return address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6Multicast || (address.GetAddressBytes()[0] & 0xFE) == 0xFC; // fc00::/7
        var b = address.GetAddressBytes();
        return b[0] switch
        {
            0 or 10 or 127 => true,                       // "this" network, RFC 1918, loopback
            100 => b[1] >= 64 && b[1] <= 127,             // carrier-grade NAT 100.64/10
            169 => b[1] == 254,                           // link-local, cloud metadata 169.254.169.254
            172 => b[1] >= 16 && b[1] <= 31,              // RFC 1918
            192 => (b[1] == 168) || (b[1] == 0 && b[2] == 0), // RFC 1918, IETF protocol assignments
            198 => b[1] == 18 || b[1] == 19,              // benchmarking
            _ => b[0] >= 224,                             // multicast and reserved
        };
    }

    /// <summary>An HttpClient whose every connection is re-checked against the address it actually connects to.</summary>
    public static HttpClient CreateClient(bool allowPrivate) => new(new SocketsHttpHandler
    {
        AllowAutoRedirect = false,
        PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        ConnectCallback = async (context, ct) =>
        {
            var addresses = await Dns.GetHostAddressesAsync(context.DnsEndPoint.Host, ct);
            var target = addresses.FirstOrDefault(a => allowPrivate || !IsPrivate(a))
                ?? throw new HttpRequestException($"Refusing to connect to {context.DnsEndPoint.Host}: not a public address.");
            var socket = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(target, context.DnsEndPoint.Port, ct);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    }) { Timeout = TimeSpan.FromSeconds(10) };
}
