using System.Net;
using System.Net.Sockets;

namespace QrFunctions.Scans;

/// <summary>What a scan request tells about its scanner: client address, anonymized address, languages, geo headers.</summary>
public static class ScanRequest
{
    /// <summary>
    /// How many proxies in front of the app append to X-Forwarded-For and are trusted (0: none, use the
    /// connection's address). QrFunctions:TrustForwardedFor turns it on; QrFunctions:ForwardedForHops says how
    /// many. Off under the Functions host, which replaces X-Forwarded-For; behind our Front Door the visitor's
    /// address comes from <see cref="EdgeTrust"/> instead.
    /// </summary>
    public static int TrustedHops(IConfiguration configuration) =>
        configuration.GetValue("QrFunctions:TrustForwardedFor", false) ? Math.Max(1, configuration.GetValue("QrFunctions:ForwardedForHops", 1)) : 0;

    /// <summary>
    /// The client's address: the connection's, or the X-Forwarded-For entry that the outermost trusted proxy
    /// appended — counted from the right, because a client can put anything at the left of that header.
    /// </summary>
    public static IPAddress? ClientAddress(HttpContext context, int trustedHops)
    {
        if (trustedHops > 0)
        {
            var entries = context.Request.Headers["X-Forwarded-For"].ToString().Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            if (entries.Length > 0 && TryParseAddress(entries[Math.Max(0, entries.Length - trustedHops)], out var parsed)) return parsed;
        }
        var remote = context.Connection.RemoteIpAddress;
        return remote is { IsIPv4MappedToIPv6: true } ? remote.MapToIPv4() : remote;
    }

    /// <summary>Accepts "1.2.3.4", "1.2.3.4:5678", "[::1]:80" and "::1" (App Service appends the port).</summary>
    public static bool TryParseAddress(string value, out IPAddress address)
    {
        address = IPAddress.None;
        if (value.Length == 0) return false;
        if (IPEndPoint.TryParse(value, out var endpoint))
        {
            address = endpoint.Address.IsIPv4MappedToIPv6 ? endpoint.Address.MapToIPv4() : endpoint.Address;
            return true;
        }
        return false;
    }

    /// <summary>IPv4: last octet zeroed; IPv6: last 80 bits zeroed (the /48 stays). The raw address is never stored.</summary>
    public static string Anonymize(IPAddress? address)
    {
        if (address is null) return "";
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        var bytes = address.GetAddressBytes();
        if (address.AddressFamily == AddressFamily.InterNetwork) bytes[3] = 0;
        else Array.Clear(bytes, 6, 10);
        return new IPAddress(bytes).ToString();
    }

    /// <summary>Accept-Language tags with q &gt; 0, highest q first (stable for equal q), as RFC 9110 §12.5.4 ranks them.</summary>
    public static List<string> Languages(string? acceptLanguage)
    {
        var ranked = new List<(string Tag, double Q, int Order)>();
        if (string.IsNullOrWhiteSpace(acceptLanguage)) return [];
        var parts = acceptLanguage.Split(',');
        for (var i = 0; i < parts.Length && i < 32; i++)
        {
            var fields = parts[i].Split(';');
            var tag = fields[0].Trim();
            if (tag.Length == 0 || tag.Length > 35) continue;
            var q = 1.0;
            foreach (var p in fields.Skip(1))
            {
                var kv = p.Trim();
                if (kv.StartsWith("q=", StringComparison.OrdinalIgnoreCase)
                    && !double.TryParse(kv[2..], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out q))
                    q = 0;
            }
            if (q > 0) ranked.Add((tag, q, i));
        }
        return ranked.OrderByDescending(r => r.Q).ThenBy(r => r.Order).Select(r => r.Tag).ToList();
    }

    /// <summary>The first tag as sent (stored with the event), at most 35 characters.</summary>
    public static string FirstLanguage(string? acceptLanguage)
    {
        var first = (acceptLanguage ?? "").Split(',', 2)[0].Split(';', 2)[0].Trim();
        return first.Length <= 35 ? first : "";
    }

    /// <summary>A header value set by a trusted edge (country/city), or "" when the header is not configured.</summary>
    public static string EdgeHeader(HttpContext context, string? headerName, int maxLength)
    {
        if (string.IsNullOrWhiteSpace(headerName)) return "";
        var value = context.Request.Headers[headerName].ToString().Trim();
        return value.Length <= maxLength ? value : value[..maxLength];
    }
}
