namespace QrFunctions.Scans;

/// <summary>The app store a scanner's device uses (APP_DOWNLOAD routing). Drop this file if the DeviceClassifier branch brings the same enum.</summary>
public enum MobilePlatform
{
    Ios,
    Android,
    Other,
}
