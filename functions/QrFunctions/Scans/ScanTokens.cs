using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace QrFunctions.Scans;

/// <summary>A recorded scan, as a token names it: its time (ms) and its random id (32 hex).</summary>
public sealed record ScanRef(long ScanTime, string ScanId);

/// <summary>
/// Tokens that carry a recorded scan from its first answer to the steps after it (age, location, lead: docs/scans.md#scan-flow),
/// so a later request adds to that scan instead of counting another: "{scanTime}.{scanId}.{mac}", the MAC being the first
/// 128 bits of HMAC-SHA256 under the salt of the scan's UTC day (<see cref="VisitorSalt"/>) over purpose, code, time and id.
/// A token is good for <see cref="Lifetime"/> and for its code only; a forged or stale one is simply not a scan.
/// Purposes: <see cref="Flow"/> (the steps) and <see cref="Done"/> (the steps are behind it: the vCard download of a gated code).
/// </summary>
public sealed partial class ScanTokens(VisitorSalt salt)
{
    public const string Flow = "scan-flow";
    public const string Done = "scan-done";
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(1);

    public static string NewScanId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    public async Task<string> IssueAsync(string purpose, string qrId, ScanRef scan, CancellationToken ct)
    {
        var mac = await salt.MacAsync(VisitorSalt.DayOf(scan.ScanTime), Text(purpose, qrId, scan), create: true, ct);
        return $"{scan.ScanTime.ToString(CultureInfo.InvariantCulture)}.{scan.ScanId}.{Base64Url(mac!)}";
    }

    /// <summary>The scan a token names, when it is genuine, of this code, for this purpose and not older than <see cref="Lifetime"/>; else null.</summary>
    public async Task<ScanRef?> ReadAsync(string purpose, string? token, string qrId, long nowMs, CancellationToken ct)
    {
        if (token is null || token.Length > 100) return null;
        var match = TokenPattern().Match(token);
        if (!match.Success || !long.TryParse(match.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var time)) return null;
        if (time > nowMs + 60_000 || nowMs - time > Lifetime.TotalMilliseconds) return null;
        var scan = new ScanRef(time, match.Groups[2].Value);
        var mac = await salt.MacAsync(VisitorSalt.DayOf(time), Text(purpose, qrId, scan), create: false, ct);
        return mac is not null && CryptographicOperations.FixedTimeEquals(System.Text.Encoding.ASCII.GetBytes(Base64Url(mac)), System.Text.Encoding.ASCII.GetBytes(match.Groups[3].Value))
            ? scan : null;
    }

    private static string Text(string purpose, string qrId, ScanRef scan) => $"{purpose}\n{qrId}\n{scan.ScanTime}\n{scan.ScanId}";

    private static string Base64Url(byte[] mac) => Convert.ToBase64String(mac, 0, 16).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    [GeneratedRegex("^([0-9]{1,15})\\.([0-9a-f]{32})\\.([A-Za-z0-9_-]{22})$")]
    private static partial Regex TokenPattern();
}
