using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Playwright;
using QrFunctions.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace QrFunctions.Tests.Scans;

/// <summary>
/// Scan pages in a real browser: Debian's chromium driven by Playwright (never a downloaded browser), one browser for the
/// class, a fresh context (Playwright's new empty profile) per test. The app listens on Kestrel at a free 127.0.0.1 port;
/// every other URL a page asks for (content images, the video player, redirect targets) is answered by Playwright's
/// routing from fixed bytes or refused, so nothing leaves the machine. Content fields carry script payloads: a page must
/// show them as text, run none of them, log no console error and violate no CSP directive.
/// </summary>
[Collection(RunsAlone.Name)]
public class BrowserTests(BrowserTests.Browser fixture, ITestOutputHelper output) : IClassFixture<BrowserTests.Browser>
{
    public const string Chromium = "/usr/bin/chromium";

    /// <summary>The app on a real socket plus one launched browser.</summary>
    public sealed class Browser : ScanTestService
    {
        protected override bool InMemory => false;
        protected override IEnumerable<string> Settings => [.. base.Settings, $"--QrFunctions:PublicBaseUrl={ListeningAt}"];

        public IPlaywright Playwright { get; private set; } = null!;
        public IBrowser Chromium { get; private set; } = null!;

        /// <summary>Where codes redirect to: a second Kestrel on 127.0.0.1 that answers every path with "Landed on {path}".</summary>
        public Uri Landing { get; } = new($"http://127.0.0.1:{FreeLoopbackPort()}/");
        private WebApplication _landing = null!;

        private static int FreeLoopbackPort()
        {
            using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        public override async Task InitializeAsync()
        {
            await base.InitializeAsync();
            var landing = WebApplication.CreateSlimBuilder();
            landing.WebHost.UseUrls(Landing.ToString().TrimEnd('/'));
            landing.Logging.ClearProviders();
            _landing = landing.Build();
            _landing.MapGet("/{**path}", (string? path) => Results.Content(
                $"<!doctype html><title>landed</title><h1>Landed on /{WebUtility.HtmlEncode(path)}</h1>", "text/html; charset=utf-8"));
            await _landing.StartAsync();
            Playwright = await Microsoft.Playwright.Playwright.CreateAsync();
            Chromium = await Playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = BrowserTests.Chromium,
                Headless = true,
                Args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync"],
            });
        }

        public override async Task DisposeAsync()
        {
            await _landing.StopAsync();
            await _landing.DisposeAsync();
            await Chromium.CloseAsync();
            Playwright.Dispose();
            await base.DisposeAsync();
        }
    }

    // Each payload is visible text when encoded, and sets window.__xss if a browser ever runs it.
    private const string Script = "<script>window.__xss=1</script>";
    private const string ImgPayload = "<img src=x onerror=\"window.__xss=1\">";
    private string Target => fixture.Landing.ToString();
    private static readonly byte[] Png = Convert.FromBase64String("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==");

    /// <summary>A context that lets the page reach only the app; fake outside hosts are answered here, the rest refused.</summary>
    private async Task<(IBrowserContext Context, IPage Page, List<string> Problems)> OpenAsync(BrowserNewContextOptions? options = null)
    {
        var context = await fixture.Chromium.NewContextAsync(options ?? new BrowserNewContextOptions());
        context.SetDefaultTimeout(15_000);
        var app = fixture.ListeningAt.ToString();
        await context.RouteAsync("**/*", async route =>
        {
            var url = route.Request.Url;
            if (url.StartsWith(app, StringComparison.Ordinal) || url.StartsWith(Target, StringComparison.Ordinal)) await route.ContinueAsync();
            else if (url.StartsWith("https://img.test/", StringComparison.Ordinal))
                await route.FulfillAsync(new RouteFulfillOptions { Status = 200, ContentType = "image/png", BodyBytes = Png });
            else if (url.StartsWith("https://www.youtube-nocookie.com/embed/", StringComparison.Ordinal) || url.StartsWith("https://player.vimeo.com/video/", StringComparison.Ordinal))
                await route.FulfillAsync(new RouteFulfillOptions { Status = 200, ContentType = "text/html", Body = "<!doctype html><title>player</title><p>player</p>" });
            else await route.AbortAsync();
        });
        await context.AddInitScriptAsync("window.__csp=[];document.addEventListener('securitypolicyviolation',function(e){window.__csp.push(e.violatedDirective+' '+e.blockedURI);});");
        var page = await context.NewPageAsync();
        var problems = new List<string>();
        page.Console += (_, m) => { if (m.Type == "error") problems.Add("console: " + m.Text); };
        page.PageError += (_, e) => problems.Add("page error: " + e);
        page.Dialog += async (_, d) => { problems.Add("dialog: " + d.Message); await d.DismissAsync(); };
        return (context, page, problems);
    }

    private async Task AssertCleanAsync(IPage page, List<string> problems)
    {
        Assert.True(await page.EvaluateAsync<bool>("() => window.__xss === undefined"), "a script from the code's content ran");
        var violations = await page.EvaluateAsync<string[]>("() => window.__csp || []");
        Assert.True(violations.Length == 0, "CSP violations: " + string.Join("; ", violations));
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    private async Task<(string DisplayId, string QrId)> CreateAsync(Tenant tenant, object body)
    {
        var created = await tenant.QrApi().PostJsonAsync("/api/qrs-api", body).DataAsync(HttpStatusCode.Created);
        return (created.GetProperty("displayId").GetString()!, created.GetProperty("id").GetString()!);
    }

    public static TheoryData<string> Types => new()
    {
        "WEB", "SHORT_LINK", "MULTI_LOCALE", "APP_DOWNLOAD", "VCARD", "PDF", "LINK_LIST", "COUPON_CODE", "IMAGE_GALLERY", "SOCIAL_BIO", "VIDEO_PREVIEW", "RESTAURANT_MENU",
    };

    /// <summary>A code of the type with every content field set (text fields carrying payloads), and the texts its answer must show.</summary>
    private (JsonObject Body, string[] Visible) Content(string type)
    {
        string T(string field) => $"{field} {Script}";
        string I(string field) => $"{field} {ImgPayload}";
        var body = new JsonObject { ["qrType"] = type, ["name"] = "Browser " + type };
        string[] visible;
        switch (type)
        {
            case "WEB" or "SHORT_LINK":
                body["qrRedirectUrl"] = Target + type.ToLowerInvariant();
                visible = [$"Landed on /{type.ToLowerInvariant()}"];
                break;
            case "MULTI_LOCALE":
                body["defaultQrRedirectUrl"] = Target + "default";
                body["qrRedirectUrls"] = new JsonArray(new JsonObject { ["locale"] = "en", ["qrRedirectUrl"] = Target + "en" }, new JsonObject { ["locale"] = "de", ["qrRedirectUrl"] = Target + "de" });
                visible = ["Landed on /de"];
                break;
            case "APP_DOWNLOAD":
                body["metadata"] = new JsonObject { ["appName"] = T("appName"), ["iosUrl"] = "https://apps.test/ios", ["androidUrl"] = "https://apps.test/android" };
                visible = [T("appName"), "App Store", "Google Play"];
                break;
            case "VCARD":
                foreach (var f in new[] { "firstName", "lastName", "designation", "address", "street", "city", "state", "postalCode", "country" }) body[f] = f + "-v";
                body["company"] = T("company");
                body["bio"] = I("bio");
                body["email"] = "anna@example.test";
                body["mobile"] = "+49 170 1";
                body["landline"] = "+49 221 2";
                body["fax"] = "+49 221 3";
                body["website"] = "https://www.example.test/";
                visible = ["firstName-v lastName-v", "designation-v", T("company"), I("bio"), "anna@example.test", "+49 170 1", "+49 221 2", "+49 221 3",
                    "https://www.example.test/", "address-v, street-v, postalCode-v city-v, state-v, country-v", "Save contact"];
                break;
            case "PDF":
                body["pdfTitle"] = T("pdfTitle");
                body["pdfDescription"] = I("pdfDescription");
                body["pdfUrl"] = "https://files.test/doc.pdf";
                body["showTitle"] = true;
                body["metadata"] = new JsonObject { ["allowDownload"] = true };
                visible = [T("pdfTitle"), I("pdfDescription"), "Open PDF", "Download PDF"];
                break;
            case "LINK_LIST":
                body["metadata"] = new JsonObject
                {
                    ["title"] = T("title"), ["subtitle"] = I("subtitle"),
                    ["links"] = new JsonArray(
                        new JsonObject { ["title"] = T("link one"), ["url"] = "https://one.test/", ["icon"] = "https://img.test/icon.png" },
                        new JsonObject { ["platform"] = "Mastodon", ["url"] = "https://two.test/", ["icon"] = "🐘" }),
                };
                visible = [T("title"), I("subtitle"), T("link one"), "Mastodon", "🐘"];
                break;
            case "COUPON_CODE":
                body["metadata"] = new JsonObject { ["couponCode"] = "SAVE-10", ["discount"] = T("discount"), ["description"] = I("description"), ["expiryDate"] = 4_102_444_800_000L };
                visible = ["SAVE-10", T("discount"), I("description"), "Valid until 2100-01-01"];
                break;
            case "IMAGE_GALLERY":
                body["metadata"] = new JsonObject
                {
                    ["title"] = T("title"), ["description"] = I("description"), ["enableDownload"] = true,
                    ["images"] = new JsonArray(new JsonObject { ["url"] = "https://img.test/one.png", ["caption"] = T("caption one") }, new JsonObject { ["url"] = "https://img.test/two.png", ["caption"] = "caption two" }),
                };
                visible = [T("title"), I("description"), T("caption one"), "caption two", "Download"];
                break;
            case "SOCIAL_BIO":
                body["metadata"] = new JsonObject
                {
                    ["title"] = T("title"), ["subtitle"] = I("subtitle"), ["profileImage"] = "https://img.test/me.png",
                    ["links"] = new JsonArray(new JsonObject { ["platform"] = "Instagram", ["url"] = "https://insta.test/me" }),
                };
                visible = [T("title"), I("subtitle"), "Instagram"];
                break;
            case "VIDEO_PREVIEW":
                body["metadata"] = new JsonObject
                {
                    ["title"] = T("title"), ["description"] = I("description"), ["videoUrl"] = "https://www.youtube.com/watch?v=dQw4w9WgXcQ", ["autoplay"] = true, ["showControls"] = false,
                };
                visible = [T("title"), I("description"), "Open video"];
                break;
            case "RESTAURANT_MENU":
                body["metadata"] = new JsonObject
                {
                    ["restaurantName"] = T("restaurantName"), ["description"] = I("description"),
                    ["menuItems"] = new JsonArray(
                        new JsonObject { ["category"] = T("Starters"), ["items"] = new JsonArray(new JsonObject { ["name"] = T("Soup"), ["price"] = "4.50", ["description"] = I("hot") }) },
                        new JsonObject { ["category"] = "Mains", ["items"] = new JsonArray(new JsonObject { ["name"] = "Pasta", ["price"] = 12.5 }) }),
                };
                visible = [T("restaurantName"), I("description"), T("Starters"), T("Soup"), "4.50", I("hot"), "Mains", "Pasta", "12.5"];
                break;
            default:
                throw new ArgumentException(type);
        }
        return (body, visible);
    }

    [Theory]
    [MemberData(nameof(Types))]
    public async Task EveryTypeShowsEveryFieldRunsNothingAndBreaksNoRule(string type)
    {
        var tenant = await fixture.NewTenantAsync();
        var (body, visible) = Content(type);
        var (displayId, _) = await CreateAsync(tenant, body);
        var (context, page, problems) = await OpenAsync(new BrowserNewContextOptions { Locale = "de-DE" });
        await using var contextLease = context;

        var response = await page.GotoAsync(fixture.ListeningAt + displayId);

        Assert.NotNull(response);
        Assert.Equal(200, response!.Status);
        foreach (var text in visible)
            Assert.True(await page.GetByText(text, new PageGetByTextOptions { Exact = false }).First.IsVisibleAsync(), $"{type}: '{text}' is not visible");
        if (type is "LINK_LIST" or "IMAGE_GALLERY" or "SOCIAL_BIO")
        {
            var images = page.Locator("img");
            Assert.True(await images.CountAsync() > 0);
            foreach (var img in await images.AllAsync())
            {
                Assert.Equal("no-referrer", await img.GetAttributeAsync("referrerpolicy"));
                Assert.StartsWith("https://img.test/", await img.GetAttributeAsync("src"));
                await img.ScrollIntoViewIfNeededAsync();
                await page.WaitForFunctionAsync("i => i.complete && i.naturalWidth > 0", await img.ElementHandleAsync());
            }
        }
        if (type == "VIDEO_PREVIEW")
        {
            var frame = page.Locator("iframe");
            Assert.True(await frame.IsVisibleAsync());
            var src = await frame.GetAttributeAsync("src");
            Assert.StartsWith("https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ?", src);
            Assert.Contains("autoplay=1&mute=1", src);
            Assert.Contains("controls=0", src);
            Assert.Contains("frame-src https://www.youtube-nocookie.com;", response.Headers["content-security-policy"]);
            await page.FrameLocator("iframe").GetByText("player").WaitForAsync();
        }
        if (response.Url.StartsWith(fixture.ListeningAt.ToString(), StringComparison.Ordinal))
        {
            var bytes = (await response.BodyAsync()).Length;
            output.WriteLine($"PAGE-WEIGHT {type} {bytes} bytes");
            Assert.True(bytes < 14_000, $"{type}: the page is {bytes} bytes; it must fit the first round trip");
        }
        await AssertCleanAsync(page, problems);
    }

    private async Task<(Tenant Tenant, string DisplayId, string QrId)> LocatedCodeAsync()
    {
        var tenant = await fixture.NewTenantAsync();
        var (displayId, qrId) = await CreateAsync(tenant, new { qrType = "WEB", qrRedirectUrl = Target + "located", settings = new { locationEnabled = true } });
        return (tenant, displayId, qrId);
    }

    private async Task<JsonElement> OnlyScanAsync(Tenant tenant, string qrId)
    {
        await fixture.AggregateAsync();
        var scans = await tenant.QrApi().GetAsync($"/api/analytics-api/detailed/{qrId}").DataAsync();
        return Assert.Single(scans.EnumerateArray());
    }

    [Fact]
    public async Task GrantedLocationIsStoredWithTheScanRoundedToAbout100Metres()
    {
        var (tenant, displayId, qrId) = await LocatedCodeAsync();
        var (context, page, problems) = await OpenAsync(new BrowserNewContextOptions
        {
            Permissions = ["geolocation"], Geolocation = new Geolocation { Latitude = 52.52037f, Longitude = 13.40951f },
        });
        await using var contextLease = context;

        await page.GotoAsync(fixture.ListeningAt + displayId);
        await AssertCleanAsync(page, problems); // the consent page: its one script ran under its hash, nothing else
        await page.GetByText("Share my location").ClickAsync();
        await page.WaitForURLAsync(Target + "located");

        var scan = await OnlyScanAsync(tenant, qrId);
        Assert.Equal(52.52, scan.GetProperty("latitude").GetDouble(), 6);
        Assert.Equal(13.41, scan.GetProperty("longitude").GetDouble(), 6);
        var overview = await ScanTestService.OverviewAsync(tenant, qrId);
        Assert.Equal(1, (long)overview["totalScans"]!);
        Assert.Equal(1, (long)overview["scansWithLocation"]!);
    }

    [Fact]
    public async Task DeniedLocationContinuesAndStoresNoPosition()
    {
        var (tenant, displayId, qrId) = await LocatedCodeAsync();
        var (context, page, problems) = await OpenAsync();
        await using var contextLease = context;
        await context.GrantPermissionsAsync([], new BrowserContextGrantPermissionsOptions { Origin = fixture.ListeningAt.ToString().TrimEnd('/') }); // geolocation: denied

        await page.GotoAsync(fixture.ListeningAt + displayId);
        await page.GetByText("Share my location").ClickAsync(); // the browser refuses: the script goes on without a position
        await page.WaitForURLAsync(Target + "located");

        var scan = await OnlyScanAsync(tenant, qrId);
        Assert.False(scan.TryGetProperty("latitude", out _));
        Assert.Equal(0, (long)(await ScanTestService.OverviewAsync(tenant, qrId))["scansWithLocation"]!);
        Assert.Empty(problems);
    }

    [Fact]
    public async Task WithoutJavaScriptTheVisitorContinuesWithoutSharing()
    {
        var (tenant, displayId, qrId) = await LocatedCodeAsync();
        var (context, page, _) = await OpenAsync(new BrowserNewContextOptions { JavaScriptEnabled = false, Permissions = ["geolocation"] });
        await using var __ = context;

        await page.GotoAsync(fixture.ListeningAt + displayId);
        Assert.False(await page.GetByText("Share my location").IsVisibleAsync());
        await page.GetByText("Continue without sharing").ClickAsync();
        await page.WaitForURLAsync(Target + "located");

        Assert.False((await OnlyScanAsync(tenant, qrId)).TryGetProperty("latitude", out _));
    }

    [Fact]
    public async Task TheAgeGateIsRememberedForTheCodeAndDeclineStops()
    {
        var tenant = await fixture.NewTenantAsync();
        var (displayId, qrId) = await CreateAsync(tenant, new { qrType = "WEB", qrRedirectUrl = Target + "adults", settings = new { ageGating = true, minAge = 21 } });

        var (declining, page, problems) = await OpenAsync();
        await using (declining)
        {
            await page.GotoAsync(fixture.ListeningAt + displayId);
            await page.GetByText("No", new PageGetByTextOptions { Exact = true }).ClickAsync();
            await page.GetByText("only available to people aged 21 and over").WaitForAsync();
            await AssertCleanAsync(page, problems);
        }

        var (confirming, page2, problems2) = await OpenAsync();
        await using (confirming)
        {
            await page2.GotoAsync(fixture.ListeningAt + displayId);
            await page2.GetByText("Yes, I am 21 or older").ClickAsync();
            await page2.WaitForURLAsync(Target + "adults");
            var cookie = Assert.Single(await confirming.CookiesAsync());
            Assert.Equal(("qr_age", "21", "/" + displayId, true, SameSiteAttribute.Lax, false), (cookie.Name, cookie.Value, cookie.Path, cookie.HttpOnly, cookie.SameSite, cookie.Secure));
            Assert.InRange(cookie.Expires - DateTimeOffset.UtcNow.ToUnixTimeSeconds(), 86_000, 86_400);

            await page2.GotoAsync(fixture.ListeningAt + displayId); // remembered: straight to the target
            await page2.WaitForURLAsync(Target + "adults");
            Assert.Empty(problems2);
        }

        await fixture.AggregateAsync();
        var overview = await ScanTestService.OverviewAsync(tenant, qrId);
        Assert.Equal((3L, 1L), ((long)overview["totalScans"]!, (long)overview["declinedScans"]!));
    }

    [Fact]
    public async Task ALeadIsCapturedBeforeTheTargetAndSkippingIsOffered()
    {
        var tenant = await fixture.NewTenantAsync();
        var (displayId, qrId) = await CreateAsync(tenant, new
        {
            qrType = "WEB", qrRedirectUrl = Target + "after-lead",
            settings = new { leadCapture = new { fields = new[] { "name", "email", "question" }, required = new[] { "email" }, question = "Which size? " + Script, consentText = "I agree " + ImgPayload, allowSkip = true } },
        });

        var (context, page, problems) = await OpenAsync();
        await using (context)
        {
            await page.GotoAsync(fixture.ListeningAt + displayId);
            Assert.True(await page.GetByText("I agree " + ImgPayload).IsVisibleAsync());
            Assert.True(await page.GetByText("Which size? " + Script).IsVisibleAsync());
            await page.GetByLabel("Name").FillAsync("Ada " + Script);
            await page.GetByLabel("Email").FillAsync("ada@example.test");
            await page.GetByLabel("Which size?").FillAsync("XL");
            await page.GetByRole(AriaRole.Checkbox).CheckAsync();
            await page.GetByText("Continue", new PageGetByTextOptions { Exact = true }).ClickAsync();
            await page.WaitForURLAsync(Target + "after-lead");
            Assert.Empty(problems);
        }

        var leads = await tenant.QrApi().GetAsync($"/api/qrs-api/{qrId}/leads").DataAsync();
        var lead = Assert.Single(leads.GetProperty("leads").EnumerateArray());
        Assert.Equal(("Ada " + Script, "ada@example.test", "XL"), (lead.GetProperty("name").GetString(), lead.GetProperty("email").GetString(), lead.GetProperty("answer").GetString()));

        var (skipping, page2, _) = await OpenAsync();
        await using (skipping)
        {
            await page2.GotoAsync(fixture.ListeningAt + displayId);
            await page2.GetByText("Skip", new PageGetByTextOptions { Exact = true }).ClickAsync();
            await page2.WaitForURLAsync(Target + "after-lead");
        }
        Assert.Equal(1, (long)(await ScanTestService.OverviewAsync(tenant, qrId))["totalLeadsCount"]!);
    }
}
