using System.Collections.Concurrent;

namespace QrFunctions.Scans;

/// <summary>The scan pipeline's view of a user agent: uap-core for OS/browser/device, isbot for bots.</summary>
public sealed class DeviceClassifier : IScanClientClassifier
{
    private static readonly string[] TabletHints = ["ipad", "tablet", "kindle", "silk/", "playbook", "nexus 7", "nexus 9", "nexus 10", "sm-t", "gt-p", "kftt", "kfapwi", "lenovo tab", "mi pad", "mipad"];
    private readonly ConcurrentDictionary<(string, bool), ScanClient> _cache = new();

    public ScanClient Classify(string? userAgent, string httpMethod)
    {
        var ua = userAgent ?? "";
        if (ua.Length > UserAgentParser.MaxLength) ua = ua[..UserAgentParser.MaxLength];
        var head = HttpMethods.IsHead(httpMethod);
        if (_cache.TryGetValue((ua, head), out var hit)) return hit;

        var parsed = UserAgentParser.Parse(ua);
        var bot = BotDetector.Detect(ua, httpMethod);
        var platform = PlatformOf(parsed.Os.Family);
        var device = bot.IsBot || parsed.Device.Family == "Spider" ? "bot" : DeviceTypeOf(ua, parsed, platform);
        var client = new ScanClient(device, parsed.Os.Family, parsed.UserAgent.Family, bot.IsBot || device == "bot",
            bot.Reason ?? (device == "bot" ? "user-agent:spider" : null), platform);
        if (_cache.Count > 10_000) _cache.Clear();
        _cache[(ua, head)] = client;
        return client;
    }

    public static MobilePlatform PlatformOf(string osFamily) => osFamily switch
    {
        "iOS" or "iPadOS" => MobilePlatform.Ios,
        "Android" => MobilePlatform.Android,
        _ => MobilePlatform.Other,
    };

    private static string DeviceTypeOf(string ua, ParsedUserAgent parsed, MobilePlatform platform)
    {
        var lower = ua.ToLowerInvariant();
        var model = (parsed.Device.Family + " " + parsed.Device.Model).ToLowerInvariant();
        if (TabletHints.Any(h => lower.Contains(h) || model.Contains(h))) return "tablet";
        // Android phones say "Mobile"; Android tablets do not (Google's own convention for their UAs).
        if (platform == MobilePlatform.Android) return lower.Contains("mobile") ? "mobile" : "tablet";
        if (platform == MobilePlatform.Ios) return "mobile";
        if (parsed.Os.Family is "Windows Phone" or "KaiOS" or "BlackBerry OS" or "Symbian OS" or "Firefox OS" || lower.Contains("mobi")) return "mobile";
        return "desktop";
    }
}
