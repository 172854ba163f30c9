namespace QrFunctions.Scans;

/// <summary>The app store a scanner's device uses (APP_DOWNLOAD routing).</summary>
public enum MobilePlatform
{
    Ios,
    Android,
    Other,
}
