using System.Net;
using System.Net.Sockets;
using QrFunctions.Api;

namespace QrFunctions.Webhooks;

/// <summary>
/// Where webhooks may go: http(s) to ordinary public addresses only, unless Webhooks:AllowPrivateTargets is set
/// (development, tests). One classifier (<see cref="SpecialPurpose"/>) decides, when a subscription is made and
/// again at connect time on the very address the socket connects to, so a DNS answer that changes later
/// (rebinding) cannot reach inside.
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

    /// <summary>Subscribe time: every address the host has now must be public (System.Uri has already turned 2130706433, 0177.0.0.1 and 0x7f.1 into 127.0.0.1).</summary>
    public static async Task EnsurePublicAsync(Uri uri, bool allowPrivate, CancellationToken ct)
    {
        if (allowPrivate) return;
        IPAddress[] addresses;
        try { addresses = IPAddress.TryParse(uri.Host.Trim('[', ']'), out var literal) ? [literal] : await Dns.GetHostAddressesAsync(uri.DnsSafeHost, ct); }
        catch (Exception ex) when (ex is SocketException or ArgumentException) { throw ApiProblem.BadRequest($"url host '{uri.Host}' does not resolve."); }
        if (addresses.Length == 0) throw ApiProblem.BadRequest($"url host '{uri.Host}' does not resolve.");
        foreach (var address in addresses)
            if (SpecialPurpose(address) is { } reason)
                throw ApiProblem.BadRequest($"url host '{uri.Host}' reaches {address}, {reason}; webhooks go to public addresses only.");
    }

    public static bool IsPrivate(IPAddress address) => SpecialPurpose(address) is not null;

    /// <summary>Connect time: the first address that may be connected to, or null when none may.</summary>
    public static IPAddress? ConnectTarget(IEnumerable<IPAddress> addresses, bool allowPrivate) =>
        addresses.FirstOrDefault(a => allowPrivate || SpecialPurpose(a) is null);

    private static IPNetwork Net(string cidr) => IPNetwork.Parse(cidr);

    /// <summary>The IANA IPv4 special-purpose address registry (every entry, globally reachable or not: none hosts a webhook receiver), plus multicast.</summary>
    private static readonly (IPNetwork Network, string Name)[] V4 =
    [
        (Net("0.0.0.0/8"), "\"this\" network (0.0.0.0/8)"),
        (Net("10.0.0.0/8"), "private-use (10.0.0.0/8)"),
        (Net("100.64.0.0/10"), "shared address space / carrier-grade NAT (100.64.0.0/10)"),
        (Net("127.0.0.0/8"), "loopback (127.0.0.0/8)"),
        (Net("169.254.0.0/16"), "link-local, cloud metadata (169.254.0.0/16)"),
        (Net("172.16.0.0/12"), "private-use (172.16.0.0/12)"),
        (Net("192.0.0.0/24"), "IETF protocol assignments (192.0.0.0/24)"),
        (Net("192.0.2.0/24"), "documentation (192.0.2.0/24)"),
        (Net("192.31.196.0/24"), "AS112 (192.31.196.0/24)"),
        (Net("192.52.193.0/24"), "AMT (192.52.193.0/24)"),
        (Net("192.88.99.0/24"), "deprecated 6to4 relay anycast (192.88.99.0/24)"),
        (Net("192.168.0.0/16"), "private-use (192.168.0.0/16)"),
        (Net("192.175.48.0/24"), "AS112 direct delegation (192.175.48.0/24)"),
        (Net("198.18.0.0/15"), "benchmarking (198.18.0.0/15)"),
        (Net("198.51.100.0/24"), "documentation (198.51.100.0/24)"),
        (Net("203.0.113.0/24"), "documentation (203.0.113.0/24)"),
        (Net("224.0.0.0/4"), "multicast (224.0.0.0/4)"),
        (Net("255.255.255.255/32"), "limited broadcast"),
        (Net("240.0.0.0/4"), "reserved (240.0.0.0/4)"),
    ];

    /// <summary>The IANA IPv6 special-purpose registry and the ranges outside it that are not global unicast; embeddings of IPv4 are classified by what they embed.</summary>
    private static readonly (IPNetwork Network, string Name)[] V6 =
    [
        (Net("::/128"), "unspecified (::)"),
        (Net("::1/128"), "loopback (::1)"),
        (Net("::/96"), "IPv4-compatible, deprecated (::/96)"),
        (Net("64:ff9b:1::/48"), "local-use IPv4/IPv6 translation (64:ff9b:1::/48)"),
        (Net("100::/64"), "discard-only (100::/64)"),
        (Net("2001:db8::/32"), "documentation (2001:db8::/32)"),
        (Net("2001::/23"), "IETF protocol assignments: benchmarking, ORCHID, AMT, anycast (2001::/23)"),
        (Net("2620:4f:8000::/48"), "AS112 direct delegation (2620:4f:8000::/48)"),
        (Net("3fff::/20"), "documentation (3fff::/20)"),
        (Net("5f00::/16"), "segment routing SIDs (5f00::/16)"),
        (Net("fc00::/7"), "unique-local (fc00::/7)"),
        (Net("fe80::/10"), "link-local (fe80::/10)"),
        (Net("fec0::/10"), "site-local, deprecated (fec0::/10)"),
        (Net("ff00::/8"), "multicast (ff00::/8)"),
    ];

    private static readonly IPNetwork Nat64 = Net("64:ff9b::/96");
    private static readonly IPNetwork SixToFour = Net("2002::/16");
    private static readonly IPNetwork Teredo = Net("2001::/32");
    private static readonly IPNetwork GlobalUnicast = Net("2000::/3");

    /// <summary>
    /// What an address reaches: null for an ordinary public unicast address, otherwise the special-purpose range
    /// that makes it something else. IPv4 inside IPv6 (IPv4-mapped, NAT64 64:ff9b::/96, 6to4 2002::/16, Teredo
    /// 2001::/32 with its client address stored inverted) is judged by the IPv4 address it leads to.
    /// </summary>
    public static string? SpecialPurpose(IPAddress address)
    {
        if (address.AddressFamily == AddressFamily.InterNetwork) return Lookup(V4, address);
        if (address.AddressFamily != AddressFamily.InterNetworkV6) return "not an IP address";
        var bytes = address.GetAddressBytes(); // without the zone id: it does not change what the address is
        address = new IPAddress(bytes);
        if (address.IsIPv4MappedToIPv6) return Embedded("IPv4-mapped", address.MapToIPv4());
        if (Nat64.Contains(address)) return Embedded("NAT64", new IPAddress(bytes.AsSpan(12, 4)));
        if (SixToFour.Contains(address)) return Embedded("6to4", new IPAddress(bytes.AsSpan(2, 4)));
        if (Teredo.Contains(address))
        {
            var client = bytes[12..16].Select(b => (byte)~b).ToArray();
            return Embedded("Teredo server", new IPAddress(bytes.AsSpan(4, 4))) ?? Embedded("Teredo client", new IPAddress(client));
        }
        return Lookup(V6, address) ?? (GlobalUnicast.Contains(address) ? null : "reserved by the IETF, not global unicast (outside 2000::/3)");
    }

    private static string? Lookup((IPNetwork Network, string Name)[] ranges, IPAddress address)
    {
        foreach (var (network, name) in ranges)
            if (network.Contains(address)) return name;
        return null;
    }

    private static string? Embedded(string form, IPAddress v4) => Lookup(V4, v4) is { } reason ? $"the {form} form of {v4}, {reason}" : null;

    /// <summary>
    /// An HttpClient whose every connection goes to an address the classifier allows: it resolves the host itself and
    /// connects to that address (never through a proxy, which would make the checked address the proxy's).
    /// </summary>
    public static HttpClient CreateClient(bool allowPrivate) => new(new SocketsHttpHandler
    {
        AllowAutoRedirect = false,
        UseProxy = false,
        PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        ConnectCallback = async (context, ct) =>
        {
            var addresses = await Dns.GetHostAddressesAsync(context.DnsEndPoint.Host, ct);
            var target = ConnectTarget(addresses, allowPrivate)
                ?? throw new HttpRequestException($"Refusing to connect to {context.DnsEndPoint.Host}: {string.Join(", ", addresses.Select(a => $"{a} is {SpecialPurpose(a)}"))}.");
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
