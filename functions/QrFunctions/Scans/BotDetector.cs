using System.Text.Json;
using System.Text.RegularExpressions;

namespace QrFunctions.Scans;

public sealed record BotVerdict(bool IsBot, string? Reason);

/// <summary>
/// Bot detection from the isbot pattern list (npm isbot, embedded at build) plus what a scan adds: HEAD
/// requests and empty user agents are not people, and link-preview fetchers (chat apps unfurling a
/// shared link) are named as such so analytics can tell them from crawlers.
/// </summary>
public static class BotDetector
{
    private static readonly Lazy<Regex> Patterns = new(() =>
    {
        using var stream = typeof(BotDetector).Assembly.GetManifestResourceStream("isbot-patterns.json")
            ?? throw new InvalidOperationException("isbot-patterns.json is not embedded (npm ci, then rebuild).");
        var list = JsonSerializer.Deserialize<string[]>(stream)!;
        return new Regex(string.Join("|", list.Select(p => $"(?:{p})")), RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(200));
    });

    private static readonly Regex LinkPreview = new(
        @"facebookexternalhit|facebookcatalog|WhatsApp|Slackbot-LinkExpanding|Slack-ImgProxy|TelegramBot|Twitterbot|Discordbot|LinkedInBot|SkypeUriPreview|Iframely|redditbot|Embedly|vkShare|Pinterestbot|Viber|Snapchat|bitlybot|Google-PageRenderer|Applebot|MicrosoftPreview|Mastodon/",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant | RegexOptions.Compiled);

    public static BotVerdict Detect(string? userAgent, string httpMethod)
    {
        if (HttpMethods.IsHead(httpMethod)) return new BotVerdict(true, "head-request");
        if (string.IsNullOrWhiteSpace(userAgent)) return new BotVerdict(true, "empty-user-agent");
        var ua = userAgent.Length > UserAgentParser.MaxLength ? userAgent[..UserAgentParser.MaxLength] : userAgent;
        var preview = LinkPreview.Match(ua);
        if (preview.Success) return new BotVerdict(true, "link-preview:" + preview.Value);
        var match = Patterns.Value.Match(ua);
        return match.Success ? new BotVerdict(true, "user-agent:" + match.Value.Trim()) : new BotVerdict(false, null);
    }
}
