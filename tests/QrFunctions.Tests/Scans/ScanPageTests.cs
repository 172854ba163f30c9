using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using QrFunctions.Scans;
using Xunit;

namespace QrFunctions.Tests.Scans;

public class ScanPageTests(ScanTestService service) : IClassFixture<ScanTestService>
{
    private const string Xss = "<script>alert(1)</script>";
    private const string BadUrl = "javascript:alert(1)";

    private async Task<(HttpResponseMessage Response, string Html, string DisplayId)> ScanPageAsync(string type, JsonObject fields)
    {
        var tenant = await service.NewTenantAsync();
        var (displayId, _) = await service.PublishAsync(tenant, type, fields);
        var response = await service.Anonymous().GetAsync("/" + displayId);
        return (response, await response.Content.ReadAsStringAsync(), displayId);
    }

    /// <summary>Every page: 200 HTML, strict CSP, no script anywhere, the payload only in encoded form, no javascript: link.</summary>
    private static void AssertInertPage(HttpResponseMessage response, string html)
    {
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType!.MediaType);
        var csp = response.Headers.GetValues("Content-Security-Policy").Single();
        Assert.Contains("default-src 'none'", csp);
        Assert.DoesNotContain("script-src", csp);
        Assert.DoesNotContain("unsafe-inline", csp);
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Contains("no-store", response.Headers.CacheControl!.ToString());
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("javascript:", html, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("&lt;script&gt;alert(1)&lt;/script&gt;", html);
    }

    [Fact]
    public async Task LinkListShowsSafeLinksAndDropsScriptUrls()
    {
        var (response, html, _) = await ScanPageAsync("LINK_LIST", new JsonObject
        {
            ["metadata"] = new JsonObject
            {
                ["title"] = Xss, ["subtitle"] = Xss,
                ["links"] = new JsonArray(
                    new JsonObject { ["title"] = "Shop " + Xss, ["url"] = "https://shop.example/?q=\"x\"&y=<z>" },
                    new JsonObject { ["title"] = "Evil", ["url"] = BadUrl },
                    new JsonObject { ["title"] = "Data", ["url"] = "data:text/html,<script>alert(1)</script>" }),
            },
        });

        AssertInertPage(response, html);
        Assert.Contains("href=\"https://shop.example/?q=%22x%22&amp;y=%3Cz%3E\"", html);
        Assert.DoesNotContain(">Evil<", html);
        Assert.DoesNotContain("data:", html);
    }

    [Fact]
    public async Task SocialBioUsesPlatformAsLabel()
    {
        var (response, html, _) = await ScanPageAsync("SOCIAL_BIO", new JsonObject
        {
            ["title"] = Xss,
            ["links"] = new JsonArray(new JsonObject { ["platform"] = "Mastodon", ["url"] = "https://social.example/@me" }, new JsonObject { ["platform"] = Xss, ["url"] = BadUrl }),
        });

        AssertInertPage(response, html);
        Assert.Contains(">Mastodon</a>", html);
    }

    [Fact]
    public async Task ImageGalleryEmbedsOnlyHttpImages()
    {
        var (response, html, _) = await ScanPageAsync("IMAGE_GALLERY", new JsonObject
        {
            ["metadata"] = new JsonObject
            {
                ["images"] = new JsonArray(
                    new JsonObject { ["url"] = "https://img.example/1.jpg", ["caption"] = Xss },
                    new JsonObject { ["url"] = BadUrl, ["caption"] = "never shown" }),
            },
        });

        AssertInertPage(response, html);
        Assert.Contains("src=\"https://img.example/1.jpg\"", html);
        Assert.DoesNotContain("never shown", html);
    }

    [Fact]
    public async Task RestaurantMenuListsItemsEscaped()
    {
        var (response, html, _) = await ScanPageAsync("RESTAURANT_MENU", new JsonObject
        {
            ["metadata"] = new JsonObject
            {
                ["restaurantName"] = Xss,
                ["items"] = new JsonArray(new JsonObject { ["name"] = "Pizza & Co", ["price"] = 12.5, ["description"] = Xss }),
            },
        });

        AssertInertPage(response, html);
        Assert.Contains("Pizza &amp; Co", html);
        Assert.Contains("12.5", html);
    }

    [Fact]
    public async Task CouponShowsCodeUntilItExpires()
    {
        var (response, html, _) = await ScanPageAsync("COUPON_CODE", new JsonObject
        {
            ["metadata"] = new JsonObject { ["couponCode"] = "SAVE10", ["discount"] = "10% off", ["description"] = Xss, ["expiryDate"] = Storage.Clock.NowMs() + 86_400_000L },
        });
        AssertInertPage(response, html);
        Assert.Contains("SAVE10", html);

        var (expiredResponse, expiredHtml, _) = await ScanPageAsync("COUPON_CODE", new JsonObject
        {
            ["metadata"] = new JsonObject { ["couponCode"] = "OLD10", ["description"] = Xss, ["expiryDate"] = Storage.Clock.NowMs() - 1000 },
        });
        AssertInertPage(expiredResponse, expiredHtml);
        Assert.DoesNotContain("OLD10", expiredHtml);
        Assert.Contains("expired", expiredHtml);
    }

    [Fact]
    public async Task VideoPreviewEmbedsOnlyHttpVideo()
    {
        var (response, html, _) = await ScanPageAsync("VIDEO_PREVIEW", new JsonObject
        {
            ["metadata"] = new JsonObject { ["videoUrl"] = "https://video.example/v.mp4", ["title"] = Xss, ["description"] = Xss },
        });
        AssertInertPage(response, html);
        Assert.Contains("<video src=\"https://video.example/v.mp4\"", html);

        var (badResponse, badHtml, _) = await ScanPageAsync("VIDEO_PREVIEW", new JsonObject { ["videoUrl"] = BadUrl, ["title"] = Xss });
        AssertInertPage(badResponse, badHtml);
        Assert.DoesNotContain("<video", badHtml);
    }

    private static JsonObject Card() => new()
    {
        ["firstName"] = "Anna; \"Nina\"", ["lastName"] = "Müller, Jr.\\", ["company"] = Xss, ["designation"] = "Head of R&D",
        ["email"] = "anna@example.com", ["mobile"] = "+49 170 1234567", ["website"] = BadUrl,
        ["street"] = "Hauptstraße 1", ["city"] = "Köln", ["postalCode"] = "50667", ["country"] = "DE",
        ["bio"] = "Line one\r\nLine two\n" + new string('é', 80) + " " + Xss,
    };

    [Fact]
    public async Task VCardPageShowsTheCardAndADownloadLink()
    {
        var (response, html, displayId) = await ScanPageAsync("VCARD", Card());

        AssertInertPage(response, html);
        Assert.Contains($"href=\"/{displayId}?download=vcf\"", html);
        Assert.Contains("Head of R&amp;D", html);
    }

    [Fact]
    public async Task VCardDownloadIsAValidEscapedFoldedVCard4()
    {
        var (_, _, displayId) = await ScanPageAsync("VCARD", Card());

        var response = await service.Anonymous().GetAsync($"/{displayId}?download=vcf");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/vcard", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal("utf-8", response.Content.Headers.ContentType.CharSet);
        var bytes = await response.Content.ReadAsByteArrayAsync();
        var text = Encoding.UTF8.GetString(bytes);
        Assert.EndsWith("END:VCARD\r\n", text);
        Assert.DoesNotContain("\n", text.Replace("\r\n", ""));   // CRLF only
        var physical = text[..^2].Split("\r\n");
        Assert.All(physical, line => Assert.True(Encoding.UTF8.GetByteCount(line) <= 75, $"line longer than 75 octets: {line}"));
        Assert.Contains(physical, l => l.StartsWith(' ')); // the long NOTE was folded

        var unfolded = text.Replace("\r\n ", "").Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("BEGIN:VCARD", unfolded[0]);
        Assert.Equal("VERSION:4.0", unfolded[1]);
        Assert.Contains("FN:Anna\\; \"Nina\" Müller\\, Jr.\\\\", unfolded);
        Assert.Contains("N:Müller\\, Jr.\\\\;Anna\\; \"Nina\";;;", unfolded);
        Assert.Contains("TEL;TYPE=cell:+49 170 1234567", unfolded);
        Assert.Contains("ADR;TYPE=work:;;Hauptstraße 1;Köln;;50667;DE", unfolded);
        Assert.Contains(unfolded, l => l.StartsWith("NOTE:Line one\\nLine two\\n" + new string('é', 80)));
        Assert.DoesNotContain(unfolded, l => l.StartsWith("URL:")); // javascript: website dropped
    }

    [Fact]
    public void VCardEscapingFollowsRfc6350()
    {
        Assert.Equal("a\\\\b\\,c\\;d\\ne\\nf", VCard.Escape("a\\b,c;d\r\ne\nf"));
    }

    [Fact]
    public async Task PasswordProtectedVCardDownloadNeedsThePassword()
    {
        var tenant = await service.NewTenantAsync();
        var (displayId, _) = await service.PublishAsync(tenant, "VCARD", Card(), new JsonObject { ["passwordEnabled"] = true, ["password"] = "pw" });
        var client = service.Anonymous();

        var locked = await client.GetAsync($"/{displayId}?download=vcf");
        Assert.Equal(HttpStatusCode.OK, locked.StatusCode);
        Assert.Equal("text/html", locked.Content.Headers.ContentType!.MediaType);

        var unlocked = await client.PostAsync($"/{displayId}/unlock?download=vcf", new FormUrlEncodedContent([new("password", "pw")]));
        Assert.Equal("text/vcard", unlocked.Content.Headers.ContentType!.MediaType);
    }

    [Fact]
    public async Task PdfIsAViewerPageWithADownloadOnlyWhenAllowed()
    {
        var (response, html, _) = await ScanPageAsync("PDF", new JsonObject
        {
            ["pdfTitle"] = Xss, ["pdfDescription"] = "About it", ["pdfUrl"] = "https://files.example/a.pdf", ["metadata"] = new JsonObject { ["allowDownload"] = true },
        });
        AssertInertPage(response, html);
        Assert.Contains(">Open PDF</a>", html);
        Assert.Contains("href=\"https://files.example/a.pdf\" download", html);
        Assert.Contains("About it", html);

        var (plain, plainHtml, _) = await ScanPageAsync("PDF", new JsonObject { ["pdfTitle"] = "Hidden title", ["showTitle"] = false, ["pdfUrl"] = "https://files.example/a.pdf" });
        Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
        Assert.DoesNotContain("Hidden title</h1>", plainHtml);
        Assert.DoesNotContain(" download", plainHtml);
    }

    [Fact]
    public async Task ContentImagesAreHttpsOnlyAndSendNoReferrer()
    {
        var (response, html, _) = await ScanPageAsync("SOCIAL_BIO", new JsonObject
        {
            ["title"] = Xss, ["profileImage"] = "https://img.example/me.png",
            ["links"] = new JsonArray(
                new JsonObject { ["title"] = "Site", ["url"] = "https://a.example/", ["icon"] = "https://img.example/i.png" },
                new JsonObject { ["title"] = "Plain", ["url"] = "https://b.example/", ["icon"] = "http://img.example/insecure.png" },
                new JsonObject { ["title"] = "Emoji", ["url"] = "https://c.example/", ["icon"] = "<b>" }),
        });
        AssertInertPage(response, html);
        Assert.Contains("<img src=\"https://img.example/me.png\" alt=\"&lt;script&gt;alert(1)&lt;/script&gt;\" referrerpolicy=\"no-referrer\" class=\"avatar\">", html);
        Assert.Contains("<img src=\"https://img.example/i.png\" alt=\"\" referrerpolicy=\"no-referrer\" class=\"icon\"", html);
        Assert.DoesNotContain("http://img.example", html);
        Assert.Contains("<span class=\"icon\" aria-hidden=\"true\">&lt;b&gt;</span>", html);
        Assert.Contains("img-src https:;", response.Headers.GetValues("Content-Security-Policy").Single());

        var (gallery, galleryHtml, _) = await ScanPageAsync("IMAGE_GALLERY", new JsonObject
        {
            ["metadata"] = new JsonObject
            {
                ["enableDownload"] = true, ["title"] = Xss,
                ["images"] = new JsonArray(new JsonObject { ["url"] = "https://img.example/1.jpg" }, new JsonObject { ["url"] = "http://img.example/2.jpg", ["caption"] = "insecure" }),
            },
        });
        AssertInertPage(gallery, galleryHtml);
        Assert.Contains("href=\"https://img.example/1.jpg\" download", galleryHtml);
        Assert.DoesNotContain("insecure", galleryHtml);
    }

    [Fact]
    public async Task RestaurantMenuShowsCategoriesWithTheirItems()
    {
        var (response, html, _) = await ScanPageAsync("RESTAURANT_MENU", new JsonObject
        {
            ["metadata"] = new JsonObject
            {
                ["restaurantName"] = Xss,
                ["menuItems"] = new JsonArray(
                    new JsonObject { ["category"] = "Starters", ["items"] = new JsonArray(new JsonObject { ["name"] = "Soup", ["price"] = "4", ["description"] = Xss }) },
                    new JsonObject { ["name"] = "Desserts", ["items"] = new JsonArray(new JsonObject { ["name"] = "Tiramisu", ["price"] = 6 }) }),
            },
        });
        AssertInertPage(response, html);
        Assert.True(html.IndexOf("<h2>Starters</h2>") < html.IndexOf("Soup") && html.IndexOf("Soup") < html.IndexOf("<h2>Desserts</h2>") && html.IndexOf("<h2>Desserts</h2>") < html.IndexOf("Tiramisu"));
    }

    [Theory]
    [InlineData("https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=1", "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ?playsinline=1&amp;rel=0&amp;autoplay=1&amp;mute=1", "https://www.youtube-nocookie.com")]
    [InlineData("https://youtu.be/dQw4w9WgXcQ", "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ?playsinline=1&amp;rel=0&amp;autoplay=1&amp;mute=1", "https://www.youtube-nocookie.com")]
    [InlineData("https://www.youtube.com/shorts/dQw4w9WgXcQ", "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ?", "https://www.youtube-nocookie.com")]
    [InlineData("https://vimeo.com/76979871", "https://player.vimeo.com/video/76979871?dnt=1&amp;autoplay=1&amp;muted=1", "https://player.vimeo.com")]
    [InlineData("https://vimeo.com/76979871/abc123", "https://player.vimeo.com/video/76979871?dnt=1&amp;h=abc123&amp;autoplay=1", "https://player.vimeo.com")]
    public async Task YouTubeAndVimeoPlayInTheirPrivacyEnhancedPlayersFramedFromTheirOriginOnly(string url, string src, string origin)
    {
        var (response, html, _) = await ScanPageAsync("VIDEO_PREVIEW", new JsonObject { ["title"] = Xss, ["metadata"] = new JsonObject { ["videoUrl"] = url, ["autoplay"] = true } });

        AssertInertPage(response, html);
        Assert.Contains($"<iframe src=\"{src}", html);
        Assert.DoesNotContain("<video", html);
        var csp = response.Headers.GetValues("Content-Security-Policy").Single();
        Assert.Contains($"frame-src {origin};", csp);
        Assert.Single(csp.Split(';'), d => d.Trim().StartsWith("frame-src"));
    }

    [Fact]
    public async Task ADirectVideoFileHonoursAutoplayMutedAndHiddenControls()
    {
        var (response, html, _) = await ScanPageAsync("VIDEO_PREVIEW", new JsonObject
        {
            ["title"] = Xss, ["metadata"] = new JsonObject { ["videoUrl"] = "https://video.example/v.mp4", ["autoplay"] = true, ["showControls"] = false },
        });
        AssertInertPage(response, html);
        Assert.Contains("<video src=\"https://video.example/v.mp4\" autoplay muted playsinline", html);
        Assert.DoesNotContain("frame-src", response.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Equal(ScanPages.ContentSecurityPolicy, response.Headers.GetValues("Content-Security-Policy").Single());
    }
}
