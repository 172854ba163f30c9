using System.Net;
using QrFunctions.Scans;
using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Scans;

public class DeviceClassifierTellsPeopleDevicesAndBotsApart
{
    private const string IPhone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
    private const string IPad = "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1";
    private const string AndroidPhone = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36";
    private const string AndroidTablet = "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
    private const string WindowsChrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

    private readonly DeviceClassifier _classifier = new();

    [Theory]
    [InlineData(IPhone, "mobile", "iOS", "Mobile Safari", MobilePlatform.Ios)]
    [InlineData(IPad, "tablet", "iOS", "Mobile Safari", MobilePlatform.Ios)]
    [InlineData(AndroidPhone, "mobile", "Android", "Chrome Mobile", MobilePlatform.Android)]
    [InlineData(AndroidTablet, "tablet", "Android", "Chrome", MobilePlatform.Android)]
    [InlineData(WindowsChrome, "desktop", "Windows", "Chrome", MobilePlatform.Other)]
    public void PeopleAreClassifiedByDeviceOsAndBrowser(string ua, string device, string os, string browser, MobilePlatform platform)
    {
        var client = _classifier.Classify(ua, "GET");
        Assert.Equal((device, os, browser, platform, false), (client.DeviceType, client.Os, client.Browser, client.Platform, client.IsBot));
    }

    [Theory]
    [InlineData("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "GET", "user-agent:")]
    [InlineData("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "GET", "link-preview:")]
    [InlineData("WhatsApp/2.23.20.0 A", "GET", "link-preview:")]
    [InlineData("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "GET", "link-preview:")]
    [InlineData("curl/8.5.0", "GET", "user-agent:")]
    [InlineData("python-requests/2.31.0", "GET", "user-agent:")]
    [InlineData("", "GET", "empty-user-agent")]
    [InlineData("   ", "GET", "empty-user-agent")]
    [InlineData(IPhone, "HEAD", "head-request")]
    public void BotsAreFlaggedWithTheirReason(string ua, string method, string reason)
    {
        var client = _classifier.Classify(ua, method);
        Assert.True(client.IsBot);
        Assert.Equal("bot", client.DeviceType);
        Assert.StartsWith(reason, client.BotReason);
    }

    [Fact]
    public void OddInputNeitherThrowsNorMisleads()
    {
        Assert.True(_classifier.Classify(null, "GET").IsBot);
        var huge = _classifier.Classify(WindowsChrome + new string('x', 10_000), "GET");
        Assert.Equal("Windows", huge.Os);
        var unicode = _classifier.Classify("Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/124.0 Mobile Safari/537.36 ☃️ Ünïcödé", "GET");
        Assert.Equal("Android", unicode.Os);
        Assert.False(BotDetector.Detect(WindowsChrome, "GET").IsBot);
    }
}

/// <summary>The app itself uses the real classifier: an APP_DOWNLOAD code sends an iPhone to the App Store.</summary>
public class ScansUseTheRealClassifier(TestService service) : IClassFixture<TestService>
{
    [Fact]
    public async Task AnAppDownloadCodeSendsEachPhoneToItsStore()
    {
        var tenant = await service.NewTenantAsync();
        var qr = await tenant.QrApi().PostJsonAsync("/api/qrs-api", new
        {
            qrType = "APP_DOWNLOAD",
            metadata = new { appName = "Acme", iosUrl = "https://apps.apple.com/app/acme", androidUrl = "https://play.google.com/store/apps/acme", fallbackUrl = "https://acme.example/app" },
        }).DataAsync(HttpStatusCode.Created);
        var path = "/" + qr.GetProperty("displayId").GetString();
        async Task<string> ScanAs(string ua)
        {
            var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.TryAddWithoutValidation("User-Agent", ua);
            var response = await service.Anonymous().SendAsync(request);
            Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
            return response.Headers.Location!.ToString();
        }
        Assert.Equal("https://apps.apple.com/app/acme", await ScanAs("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"));
        Assert.Equal("https://play.google.com/store/apps/acme", await ScanAs("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36"));
        Assert.Equal("https://acme.example/app", await ScanAs("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"));
    }
}
