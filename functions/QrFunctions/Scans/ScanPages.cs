using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json.Nodes;

namespace QrFunctions.Scans;

/// <summary>
/// The small server-rendered pages a scan may answer with. No scripts at all, one inline style block
/// allowed by its hash, every user-supplied string HTML-encoded, only http(s) URLs linked or embedded.
/// </summary>
public static class ScanPages
{
    private const string Css =
        "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f5f5f7;color:#1d1d1f}" +
        "main{max-width:34rem;margin:0 auto;padding:1.5rem 1rem}h1{font-size:1.5rem;margin:.2rem 0 .5rem}" +
        "p{line-height:1.45}.sub{color:#555}.card{background:#fff;border-radius:12px;padding:1rem;margin:.75rem 0;box-shadow:0 1px 3px #0002}" +
        "a.button,button{display:block;text-align:center;background:#1d4ed8;color:#fff;padding:.8rem;border-radius:10px;text-decoration:none;margin:.6rem 0;border:0;width:100%;font-size:1rem}" +
        "img,video{max-width:100%;border-radius:10px}figure{margin:.75rem 0}figcaption{color:#555;font-size:.9rem}" +
        ".row{display:flex;justify-content:space-between;gap:1rem}.price{font-weight:600;white-space:nowrap}" +
        ".code{font:700 1.6rem ui-monospace,monospace;letter-spacing:.1em;text-align:center;padding:1rem;border:2px dashed #1d4ed8;border-radius:10px}" +
        "dl{margin:0}dt{color:#555;font-size:.85rem;margin-top:.5rem}dd{margin:0}input{width:100%;padding:.7rem;font-size:1rem;box-sizing:border-box;border:1px solid #bbb;border-radius:8px}";

    /// <summary>Nothing may run, load or be framed except the one style block and http(s) images/videos; forms post only back here.</summary>
    public static readonly string ContentSecurityPolicy =
        $"default-src 'none'; style-src 'sha256-{Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(Css)))}'; " +
        "img-src https: http:; media-src https: http:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

    /// <summary>The headers of every page: this CSP, not cached, not sniffed, no referrer (page URLs may hold tokens).</summary>
    public static void SetHeaders(IHeaderDictionary headers)
    {
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.CacheControl = "private, no-store";
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
    }

    private static readonly HtmlEncoder Html = HtmlEncoder.Create(System.Text.Unicode.UnicodeRanges.All); // still encodes < > & and quotes; keeps umlauts readable

    public static string H(string? text) => Html.Encode(text ?? "");

    public static string Layout(string title, string body, string lang = "en") =>
        $"<!doctype html><html lang=\"{H(lang)}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">" +
        $"<meta name=\"robots\" content=\"noindex\"><title>{H(title)}</title><style>{Css}</style></head><body><main>{body}</main></body></html>";

    public static string Message(string title, string text) => Layout(title, $"<h1>{H(title)}</h1><p>{H(text)}</p>");

    private static string Link(string? url, string label, string cssClass = "button") =>
        QrContent.HttpUrl(url) is { } safe ? $"<a class=\"{cssClass}\" href=\"{H(safe)}\" rel=\"noopener noreferrer nofollow\">{H(label)}</a>" : "";

    private static string Heading(string title, string subtitle) =>
        (title.Length > 0 ? $"<h1>{H(title)}</h1>" : "") + (subtitle.Length > 0 ? $"<p class=\"sub\">{H(subtitle)}</p>" : "");

    /// <summary>The page of a page-type code, or null when <paramref name="type"/> is not one.</summary>
    public static string? For(string type, JsonObject qr, string displayId, long nowMs, string? unlockPassword) => type switch
    {
        "LINK_LIST" or "SOCIAL_BIO" => Links(qr),
        "IMAGE_GALLERY" => Gallery(qr),
        "RESTAURANT_MENU" => Menu(qr),
        "COUPON_CODE" => Coupon(qr, nowMs),
        "VIDEO_PREVIEW" => Video(qr),
        "VCARD" => Card(qr, displayId, unlockPassword),
        _ => null,
    };

    private static string Links(JsonObject qr)
    {
        var title = QrContent.Text(qr, "title", 256);
        var body = new StringBuilder(Heading(title, QrContent.Text(qr, "subtitle", 512)));
        foreach (var link in QrContent.Items(qr, "links"))
        {
            var label = QrContent.TextOf(link["title"]);
            if (label.Length == 0) label = QrContent.TextOf(link["platform"]);
            var url = QrContent.TextOf(link["url"]);
            body.Append(Link(url, label.Length > 0 ? label : url));
        }
        return Layout(title.Length > 0 ? title : "Links", body.ToString());
    }

    private static string Gallery(JsonObject qr)
    {
        var title = QrContent.Text(qr, "title", 256);
        var body = new StringBuilder(Heading(title, QrContent.Text(qr, "description", 1024)));
        foreach (var image in QrContent.Items(qr, "images"))
        {
            if (QrContent.HttpUrl(QrContent.TextOf(image["url"])) is not { } src) continue;
            var caption = QrContent.TextOf(image["caption"]);
            body.Append($"<figure><img src=\"{H(src)}\" alt=\"{H(caption)}\" loading=\"lazy\">")
                .Append(caption.Length > 0 ? $"<figcaption>{H(caption)}</figcaption>" : "").Append("</figure>");
        }
        return Layout(title.Length > 0 ? title : "Gallery", body.ToString());
    }

    private static string Menu(JsonObject qr)
    {
        var name = QrContent.Text(qr, "restaurantName", 256);
        var body = new StringBuilder(Heading(name, QrContent.Text(qr, "description", 1024)));
        foreach (var item in QrContent.Items(qr, "items", 500))
        {
            var description = QrContent.TextOf(item["description"]);
            body.Append("<div class=\"card\"><div class=\"row\"><strong>").Append(H(QrContent.TextOf(item["name"])))
                .Append("</strong><span class=\"price\">").Append(H(QrContent.TextOf(item["price"]))).Append("</span></div>")
                .Append(description.Length > 0 ? $"<p class=\"sub\">{H(description)}</p>" : "").Append("</div>");
        }
        return Layout(name.Length > 0 ? name : "Menu", body.ToString());
    }

    private static string Coupon(JsonObject qr, long nowMs)
    {
        var discount = QrContent.Text(qr, "discount", 256);
        var body = new StringBuilder(Heading(discount.Length > 0 ? discount : "Coupon", QrContent.Text(qr, "description", 1024)));
        var expiry = QrContent.Number(qr["expiryDate"]) ?? (qr["metadata"] is JsonObject m ? QrContent.Number(m["expiryDate"]) : null);
        var expired = expiry is { } e && e <= nowMs;
        body.Append(expired ? "<p><strong>This coupon has expired.</strong></p>" : $"<div class=\"code\">{H(QrContent.Text(qr, "couponCode", 128))}</div>");
        if (expiry is { } until)
            body.Append("<p class=\"sub\">Valid until ").Append(H(DateTimeOffset.FromUnixTimeMilliseconds(until).UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture))).Append(" (UTC)</p>");
        return Layout("Coupon", body.ToString());
    }

    private static string Video(JsonObject qr)
    {
        var title = QrContent.Text(qr, "title", 256);
        var body = new StringBuilder(Heading(title, QrContent.Text(qr, "description", 2048)));
        if (QrContent.HttpUrl(QrContent.Text(qr, "videoUrl")) is { } video)
            body.Append($"<video src=\"{H(video)}\" controls playsinline preload=\"metadata\"></video>").Append(Link(video, "Open video"));
        return Layout(title.Length > 0 ? title : "Video", body.ToString());
    }

    private static string Card(JsonObject qr, string displayId, string? unlockPassword)
    {
        string F(string f) => QrContent.Text(qr, f, 1024);
        var name = $"{F("firstName")} {F("lastName")}".Trim();
        var body = new StringBuilder(Heading(name.Length > 0 ? name : F("company"), string.Join(" · ", new[] { F("designation"), name.Length > 0 ? F("company") : "" }.Where(s => s.Length > 0))));
        body.Append("<div class=\"card\"><dl>");
        void Row(string label, string value, string? href = null)
        {
            if (value.Length == 0) return;
            body.Append("<dt>").Append(H(label)).Append("</dt><dd>")
                .Append(href is null ? H(value) : $"<a href=\"{H(href)}\" rel=\"nofollow\">{H(value)}</a>").Append("</dd>");
        }
        Row("Email", F("email"), F("email").Contains('@') ? "mailto:" + Uri.EscapeDataString(F("email")).Replace("%40", "@") : null);
        Row("Mobile", F("mobile"), TelUri(F("mobile")));
        Row("Phone", F("landline"), TelUri(F("landline")));
        Row("Fax", F("fax"));
        if (QrContent.HttpUrl(F("website")) is { } website) Row("Website", F("website"), website); // a non-http "website" is not shown at all
        var address = string.Join(", ", new[] { F("address"), F("street"), F("postalCode") + " " + F("city"), F("state"), F("country") }.Select(s => s.Trim()).Where(s => s.Length > 0));
        Row("Address", address);
        Row("About", F("bio"));
        body.Append("</dl></div>");
        var path = "/" + Uri.EscapeDataString(displayId);
        if (unlockPassword is null)
            body.Append($"<a class=\"button\" href=\"{H(path)}?download=vcf\">Save contact</a>");
        else // the card was unlocked by a password: the download posts it again instead of putting it in a URL
            body.Append($"<form method=\"post\" action=\"{H(path)}/unlock?download=vcf\"><input type=\"hidden\" name=\"password\" value=\"{H(unlockPassword)}\"><button type=\"submit\">Save contact</button></form>");
        return Layout(name.Length > 0 ? name : "Contact", body.ToString());
    }

    /// <summary>tel: links only from digits and +; anything else is shown but not linked.</summary>
    private static string? TelUri(string number)
    {
        var digits = new string(number.Where(c => char.IsAsciiDigit(c) || c == '+').ToArray());
        return digits.Length >= 3 ? "tel:" + digits : null;
    }

    public static string AppDownload(JsonObject qr)
    {
        var name = QrContent.Text(qr, "appName", 256);
        var body = Heading(name.Length > 0 ? name : "Get the app", "") +
                   Link(QrContent.Text(qr, "iosUrl"), "App Store") + Link(QrContent.Text(qr, "androidUrl"), "Google Play");
        return Layout(name.Length > 0 ? name : "App", body);
    }

    public static string PasswordForm(string displayId, bool wrong) => Layout("Password required",
        "<h1>Password required</h1>" + (wrong ? "<p><strong>Wrong password.</strong> Please try again.</p>" : "<p>This content is protected.</p>") +
        $"<form method=\"post\" action=\"/{H(Uri.EscapeDataString(displayId))}/unlock\"><input type=\"password\" name=\"password\" autocomplete=\"off\" required autofocus>" +
        "<button type=\"submit\">Open</button></form>");
}
