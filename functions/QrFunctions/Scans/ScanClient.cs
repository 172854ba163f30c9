namespace QrFunctions.Scans;

/// <summary>What a scan's User-Agent says about the scanner: the fields a scan event stores and the OS an APP_DOWNLOAD code routes by.</summary>
public sealed record ScanClient(string DeviceType, string Os, string Browser, bool IsBot, string? BotReason, MobilePlatform Platform);

/// <summary>
/// The seam between the scan pipeline and User-Agent parsing / bot detection (uap-core, isbot), which
/// lives in DeviceClassifier. The app registers the real adapter; the pipeline only depends on this.
/// </summary>
public interface IScanClientClassifier
{
    ScanClient Classify(string? userAgent, string httpMethod);
}

/// <summary>
/// Registered only until the DeviceClassifier adapter is wired (TryAdd, so the real one wins): it
/// claims nothing it cannot know — device, OS and browser stay "unknown", only HEAD is called a bot.
/// </summary>
public sealed class UnclassifiedScanClients : IScanClientClassifier
{
    public ScanClient Classify(string? userAgent, string httpMethod) =>
        HttpMethods.IsHead(httpMethod)
            ? new ScanClient("bot", "unknown", "unknown", true, "head-request", MobilePlatform.Other)
            : new ScanClient("unknown", "unknown", "unknown", false, null, MobilePlatform.Other);
}
