namespace QrFunctions.Scans;

/// <summary>What a scan's User-Agent says about the scanner: the fields a scan event stores and the OS an APP_DOWNLOAD code routes by.</summary>
public sealed record ScanClient(string DeviceType, string Os, string Browser, bool IsBot, string? BotReason, MobilePlatform Platform);

/// <summary>
/// The seam between the scan pipeline and User-Agent parsing / bot detection (uap-core, isbot), which
/// lives in DeviceClassifier. Tests substitute a fixed classifier; the pipeline only depends on this.
/// </summary>
public interface IScanClientClassifier
{
    ScanClient Classify(string? userAgent, string httpMethod);
}
