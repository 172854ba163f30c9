using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace QrFunctions.Scans;

/// <summary>A page and the Content-Security-Policy it is served with (most pages: <see cref="ScanPages.ContentSecurityPolicy"/>).</summary>
public sealed record ScanPage(string Html, string Csp)
{
    public static implicit operator ScanPage(string html) => new(html, ScanPages.ContentSecurityPolicy);
}

/// <summary>
/// The small server-rendered pages a scan may answer with. No script, except one fixed script of ours on the location
/// consent page, allowed by its hash on that page only; one inline style block allowed by its hash; every user-supplied
/// string HTML-encoded; only http(s) URLs linked, content images only over https and without a referrer; frames only on a
/// video page, and only from the one provider it embeds.
/// </summary>
public static partial class ScanPages
{
    private const string Css =
        "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f5f5f7;color:#1d1d1f}" +
        "main{max-width:34rem;margin:0 auto;padding:1.5rem 1rem}h1{font-size:1.5rem;margin:.2rem 0 .5rem}h2{font-size:1.15rem;margin:1.2rem 0 .3rem}" +
        "p{line-height:1.45}.sub{color:#555}.card{background:#fff;border-radius:12px;padding:1rem;margin:.75rem 0;box-shadow:0 1px 3px #0002}" +
        "a.button,button{display:flex;align-items:center;justify-content:center;gap:.5rem;text-align:center;background:#1d4ed8;color:#fff;padding:.8rem;border-radius:10px;text-decoration:none;margin:.6rem 0;border:0;width:100%;font-size:1rem;box-sizing:border-box}" +
        "a.secondary,button.secondary{background:#e5e7eb;color:#1d1d1f}[hidden]{display:none!important}" +
        "img,video{max-width:100%;border-radius:10px}figure{margin:.75rem 0}figcaption{color:#555;font-size:.9rem}" +
        ".icon{width:1.4rem;height:1.4rem;border-radius:4px;object-fit:cover}.avatar{display:block;width:6rem;height:6rem;border-radius:50%;object-fit:cover;margin:0 auto .5rem}" +
        ".frame{position:relative;padding-top:56.25%}.frame iframe{position:absolute;inset:0;width:100%;height:100%;border:0;border-radius:10px}" +
        ".row{display:flex;justify-content:space-between;gap:1rem}.price{font-weight:600;white-space:nowrap}" +
        ".code{font:700 1.6rem ui-monospace,monospace;letter-spacing:.1em;text-align:center;padding:1rem;border:2px dashed #1d4ed8;border-radius:10px}" +
        ".err{color:#b91c1c}label{display:block;margin:.7rem 0 .2rem}.check{display:flex;gap:.5rem;align-items:flex-start}.check input{width:auto;margin-top:.2rem}" +
        "dl{margin:0}dt{color:#555;font-size:.85rem;margin-top:.5rem}dd{margin:0}input,textarea{width:100%;padding:.7rem;font-size:1rem;box-sizing:border-box;border:1px solid #bbb;border-radius:8px}";

    private static readonly string StyleHash = Hash(Css);

    /// <summary>Nothing may run, load or be framed except the one style block and https images/http(s) videos; forms post only back here.</summary>
    public static readonly string ContentSecurityPolicy = Policy();

    private static string Hash(string text) => $"'sha256-{Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(text)))}'";

    private static string Policy(string? frameSrc = null, string? scriptSrc = null) =>
        $"default-src 'none'; style-src {StyleHash}; img-src https:; media-src https: http:; " +
        (frameSrc is null ? "" : $"frame-src {frameSrc}; ") + (scriptSrc is null ? "" : $"script-src {scriptSrc}; ") +
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

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

    public static string Layout(string title, string body, string lang = "en", string head = "") =>
        $"<!doctype html><html lang=\"{H(lang)}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">" +
        $"<meta name=\"robots\" content=\"noindex\">{head}<title>{H(title)}</title><style>{Css}</style></head><body><main>{body}</main></body></html>";

    public static string Message(string title, string text) => Layout(title, $"<h1>{H(title)}</h1><p>{H(text)}</p>");

    private static string Link(string? url, string label, string cssClass = "button", string inner = "") =>
        QrContent.HttpUrl(url) is { } safe ? $"<a class=\"{cssClass}\" href=\"{H(safe)}\" rel=\"noopener noreferrer nofollow\">{inner}{H(label)}</a>" : "";

    /// <summary>A content image: https only, no referrer, lazily loaded unless it is the first thing on the page.</summary>
    private static string Image(string? url, string alt, string cssClass = "", bool lazy = true) =>
        QrContent.HttpsUrl(url) is { } src
            ? $"<img src=\"{H(src)}\" alt=\"{H(alt)}\" referrerpolicy=\"no-referrer\"{(cssClass.Length > 0 ? $" class=\"{cssClass}\"" : "")}{(lazy ? " loading=\"lazy\"" : "")}>"
            : "";

    private static string Heading(string title, string subtitle) =>
        (title.Length > 0 ? $"<h1>{H(title)}</h1>" : "") + (subtitle.Length > 0 ? $"<p class=\"sub\">{H(subtitle)}</p>" : "");

    /// <summary>
    /// The page of a page-type code, or null when <paramref name="type"/> is not one. <paramref name="downloadToken"/>: a
    /// token that proves this scan went through the code's gates, for the vCard download link of a gated code.
    /// </summary>
    public static ScanPage? For(string type, JsonObject qr, string displayId, long nowMs, string? unlockPassword, string? downloadToken = null) => type switch
    {
        "LINK_LIST" => Links(qr, social: false),
        "SOCIAL_BIO" => Links(qr, social: true),
        "IMAGE_GALLERY" => Gallery(qr),
        "RESTAURANT_MENU" => Menu(qr),
        "COUPON_CODE" => Coupon(qr, nowMs),
        "VIDEO_PREVIEW" => Video(qr),
        "VCARD" => Card(qr, displayId, unlockPassword, downloadToken),
        "PDF" => Pdf(qr),
        _ => null,
    };

    private static string Links(JsonObject qr, bool social)
    {
        var title = QrContent.Text(qr, "title", 256);
        var body = new StringBuilder();
        if (social) body.Append(Image(QrContent.Text(qr, "profileImage"), title, "avatar", lazy: false));
        body.Append(Heading(title, QrContent.Text(qr, "subtitle", 512)));
        foreach (var link in QrContent.Items(qr, "links"))
        {
            var label = QrContent.TextOf(link["title"]);
            if (label.Length == 0) label = QrContent.TextOf(link["platform"]);
            var url = QrContent.TextOf(link["url"]);
            body.Append(Link(url, label.Length > 0 ? label : url, inner: Icon(QrContent.TextOf(link["icon"]))));
        }
        return Layout(title.Length > 0 ? title : social ? "Profile" : "Links", body.ToString());
    }

    /// <summary>A link's icon: an https image, or a short text (an emoji, a name) shown as it is.</summary>
    private static string Icon(string icon)
    {
        if (icon.Length == 0) return "";
        if (QrContent.HttpUrl(icon) is not null) return Image(icon, "", "icon");
        return icon.Length <= 32 ? $"<span class=\"icon\" aria-hidden=\"true\">{H(icon)}</span>" : "";
    }

    private static string Gallery(JsonObject qr)
    {
        var title = QrContent.Text(qr, "title", 256);
        var download = QrContent.Flag(qr, "enableDownload", absent: false);
        var body = new StringBuilder(Heading(title, QrContent.Text(qr, "description", 1024)));
        foreach (var image in QrContent.Items(qr, "images"))
        {
            if (QrContent.HttpsUrl(QrContent.TextOf(image["url"])) is not { } src) continue;
            var caption = QrContent.TextOf(image["caption"]);
            body.Append("<figure>").Append(Image(src, caption))
                .Append(caption.Length > 0 ? $"<figcaption>{H(caption)}</figcaption>" : "")
                .Append(download ? $"<a class=\"button secondary\" href=\"{H(src)}\" download rel=\"noopener noreferrer nofollow\">Download</a>" : "")
                .Append("</figure>");
        }
        return Layout(title.Length > 0 ? title : "Gallery", body.ToString());
    }

    private static string Menu(JsonObject qr)
    {
        var name = QrContent.Text(qr, "restaurantName", 256);
        var body = new StringBuilder(Heading(name, QrContent.Text(qr, "description", 1024)));
        // menuItems: categories with their items; items: one flat list (both may be present).
        foreach (var category in QrContent.Items(qr, "menuItems", 50))
        {
            var label = QrContent.TextOf(category["category"]);
            if (label.Length == 0) label = QrContent.TextOf(category["name"]);
            if (label.Length == 0) label = QrContent.TextOf(category["title"]);
            var about = QrContent.TextOf(category["description"]);
            body.Append("<section>").Append(label.Length > 0 ? $"<h2>{H(label)}</h2>" : "").Append(about.Length > 0 ? $"<p class=\"sub\">{H(about)}</p>" : "");
            foreach (var item in (category["items"] as JsonArray ?? []).OfType<JsonObject>().Take(200)) MenuItem(body, item);
            body.Append("</section>");
        }
        foreach (var item in QrContent.Items(qr, "items", 500)) MenuItem(body, item);
        return Layout(name.Length > 0 ? name : "Menu", body.ToString());
    }

    private static void MenuItem(StringBuilder body, JsonObject item)
    {
        var description = QrContent.TextOf(item["description"]);
        body.Append("<div class=\"card\"><div class=\"row\"><strong>").Append(H(QrContent.TextOf(item["name"])))
            .Append("</strong><span class=\"price\">").Append(H(QrContent.TextOf(item["price"]))).Append("</span></div>")
            .Append(description.Length > 0 ? $"<p class=\"sub\">{H(description)}</p>" : "").Append("</div>");
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

    /// <summary>PDF: title and description (unless showTitle is false), the document opened in one tap, a download link only with allowDownload.</summary>
    private static string Pdf(JsonObject qr)
    {
        var title = QrContent.Text(qr, "pdfTitle", 256);
        var body = new StringBuilder();
        if (QrContent.Flag(qr, "showTitle", absent: true)) body.Append(Heading(title, QrContent.Text(qr, "pdfDescription", 2048)));
        var url = QrContent.HttpUrl(QrContent.Text(qr, "pdfUrl")) ?? QrContent.HttpUrl(QrContent.Text(qr, "qrRedirectUrl"));
        body.Append(Link(url, "Open PDF"));
        if (url is not null && QrContent.Flag(qr, "allowDownload", absent: false))
            body.Append($"<a class=\"button secondary\" href=\"{H(url)}\" download rel=\"noopener noreferrer nofollow\">Download PDF</a>");
        return Layout(title.Length > 0 ? title : "Document", body.ToString());
    }

    /// <summary>The privacy-enhanced player of a YouTube or Vimeo URL: (the origin the page's frame-src allows, the player URL).</summary>
    public static (string Origin, string Src)? Embed(string url, bool autoplay, bool controls)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http")) return null;
        var host = uri.Host.ToLowerInvariant();
        var segments = uri.AbsolutePath.Split('/', StringSplitOptions.RemoveEmptyEntries);
        string? youTube = host switch
        {
            "youtu.be" => segments.FirstOrDefault(),
            "youtube.com" or "www.youtube.com" or "m.youtube.com" or "music.youtube.com" or "youtube-nocookie.com" or "www.youtube-nocookie.com" =>
                segments is ["watch"] ? System.Web.HttpUtility.ParseQueryString(uri.Query)["v"]
                : segments is ["embed" or "shorts" or "live" or "v", var id, ..] ? id : null,
            _ => null,
        };
        if (youTube is not null && YouTubeId().IsMatch(youTube))
            return ("https://www.youtube-nocookie.com",
                $"https://www.youtube-nocookie.com/embed/{youTube}?playsinline=1&rel=0{(autoplay ? "&autoplay=1&mute=1" : "")}{(controls ? "" : "&controls=0")}");
        string? vimeo = null, unlisted = null;
        if (host is "vimeo.com" or "www.vimeo.com" && segments is [var v, ..] && VimeoId().IsMatch(v))
            (vimeo, unlisted) = (v, segments.Length > 1 ? segments[1] : null);
        else if (host == "player.vimeo.com" && segments is ["video", var pv, ..] && VimeoId().IsMatch(pv))
            (vimeo, unlisted) = (pv, System.Web.HttpUtility.ParseQueryString(uri.Query)["h"]);
        if (vimeo is null) return null;
        var hash = unlisted is not null && VimeoHash().IsMatch(unlisted) ? "&h=" + unlisted : "";
        return ("https://player.vimeo.com",
            $"https://player.vimeo.com/video/{vimeo}?dnt=1{hash}{(autoplay ? "&autoplay=1&muted=1" : "")}{(controls ? "" : "&controls=0")}");
    }

    [GeneratedRegex("^[A-Za-z0-9_-]{11}$")]
    private static partial Regex YouTubeId();

    [GeneratedRegex("^[0-9]{1,12}$")]
    private static partial Regex VimeoId();

    [GeneratedRegex("^[0-9a-f]{1,32}$")]
    private static partial Regex VimeoHash();

    private static ScanPage Video(JsonObject qr)
    {
        var title = QrContent.Text(qr, "title", 256);
        var body = new StringBuilder(Heading(title, QrContent.Text(qr, "description", 2048)));
        var autoplay = QrContent.Flag(qr, "autoplay", absent: false);
        var controls = QrContent.Flag(qr, "showControls", absent: true);
        string? frameSrc = null;
        if (QrContent.HttpUrl(QrContent.Text(qr, "videoUrl")) is { } video)
        {
            if (Embed(video, autoplay, controls) is { } player)
            {
                frameSrc = player.Origin;
                // The providers refuse to play without knowing the embedding site: the frame alone sends our origin (never the path).
                body.Append($"<div class=\"frame\"><iframe src=\"{H(player.Src)}\" title=\"{H(title.Length > 0 ? title : "Video")}\" ")
                    .Append("allow=\"autoplay; encrypted-media; fullscreen; picture-in-picture\" allowfullscreen referrerpolicy=\"strict-origin-when-cross-origin\"></iframe></div>");
            }
            else
            {
                body.Append($"<video src=\"{H(video)}\"{(controls ? " controls" : "")}{(autoplay ? " autoplay muted" : "")} playsinline preload=\"metadata\"></video>");
            }
            body.Append(Link(video, "Open video"));
        }
        return new ScanPage(Layout(title.Length > 0 ? title : "Video", body.ToString()), Policy(frameSrc: frameSrc));
    }

    private static string Card(JsonObject qr, string displayId, string? unlockPassword, string? downloadToken)
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
        if (downloadToken is not null) // the scan went through the code's gates: the download shows that with a short-lived token
            body.Append($"<a class=\"button\" href=\"{H(path)}?download=vcf&amp;scan={H(Uri.EscapeDataString(downloadToken))}\">Save contact</a>");
        else if (unlockPassword is null)
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

    // ---- The steps a scan may go through before its answer (docs/scans.md#scan-flow) ----

    private static string FlowForm(string displayId, string token, string step, string id = "") =>
        $"<form method=\"post\" action=\"/{H(Uri.EscapeDataString(displayId))}/continue\"{(id.Length > 0 ? $" id=\"{id}\"" : "")}>" +
        $"<input type=\"hidden\" name=\"scan\" value=\"{H(token)}\"><input type=\"hidden\" name=\"step\" value=\"{step}\">";

    public static string AgeGate(string displayId, string token, int minAge) => Layout("Age check",
        $"<h1>Are you {minAge} or older?</h1><p>This content is only for people aged {minAge} and over.</p>" + FlowForm(displayId, token, "age") +
        $"<button type=\"submit\" name=\"answer\" value=\"yes\">Yes, I am {minAge} or older</button>" +
        "<button type=\"submit\" name=\"answer\" value=\"no\" class=\"secondary\">No</button></form>");

    public static string AgeDeclined(int minAge) => Layout("Sorry",
        $"<h1>Sorry</h1><p>This content is only available to people aged {minAge} and over. Thank you for being honest.</p>");

    /// <summary>
    /// The one script any scan page carries, fixed (nothing of a code's content is in it) and allowed by its hash on the
    /// consent page alone: it shows the share button, asks the browser for the position, rounds it to 3 decimals (about
    /// 100 m) before it leaves the device and submits; a refusal, an error or no answer within 10 s submits without one.
    /// Without JavaScript the button stays hidden and "Continue" goes on.
    /// </summary>
    public const string LocationScript =
        "(function(){var f=document.getElementById(\"loc\"),b=document.getElementById(\"locate\");" +
        "if(!f||!b||!navigator.geolocation)return;b.hidden=false;" +
        "b.addEventListener(\"click\",function(){b.disabled=true;" +
        "navigator.geolocation.getCurrentPosition(function(p){f.elements.latitude.value=p.coords.latitude.toFixed(3);" +
        "f.elements.longitude.value=p.coords.longitude.toFixed(3);f.elements.share.value=\"1\";f.submit();}," +
        "function(){f.submit();},{enableHighAccuracy:false,timeout:10000,maximumAge:600000});});})();";

    public static readonly string LocationPolicy = Policy(scriptSrc: Hash(LocationScript));

    public static ScanPage LocationConsent(string displayId, string token) => new(Layout("Share your location?",
        "<h1>Share your location?</h1><p>The owner of this QR code would like to know roughly where it is scanned (to about 100 m). " +
        "It is stored only if you share it.</p>" + FlowForm(displayId, token, "location", "loc") +
        "<input type=\"hidden\" name=\"share\" value=\"0\"><input type=\"hidden\" name=\"latitude\" value=\"\"><input type=\"hidden\" name=\"longitude\" value=\"\">" +
        "<button type=\"button\" id=\"locate\" hidden>Share my location</button>" +
        "<button type=\"submit\" class=\"secondary\">Continue without sharing</button></form>" +
        $"<script>{LocationScript}</script>"), LocationPolicy);

    /// <param name="values">What the visitor typed (shown again after an error, encoded).</param>
    public static string LeadForm(string displayId, string token, LeadCaptureSettings lead, IReadOnlyDictionary<string, string> values, IReadOnlyList<string> errors)
    {
        string V(string name) => H(values.GetValueOrDefault(name, ""));
        string Req(string field) => lead.Required.Contains(field) ? " required" : "";
        var body = new StringBuilder(Heading(lead.Title, lead.Description));
        foreach (var error in errors) body.Append($"<p class=\"err\">{H(error)}</p>");
        body.Append(FlowForm(displayId, token, "lead"));
        foreach (var field in lead.Fields)
        {
            switch (field)
            {
                case "name":
                    body.Append($"<label for=\"f-name\">Name</label><input id=\"f-name\" name=\"name\" autocomplete=\"name\" maxlength=\"{LeadCaptureSettings.MaxName}\" value=\"{V("name")}\"{Req(field)}>");
                    break;
                case "email":
                    body.Append($"<label for=\"f-email\">Email</label><input id=\"f-email\" type=\"email\" name=\"email\" autocomplete=\"email\" maxlength=\"{LeadCaptureSettings.MaxEmail}\" value=\"{V("email")}\"{Req(field)}>");
                    break;
                case "phone":
                    body.Append($"<label for=\"f-phone\">Phone</label><input id=\"f-phone\" type=\"tel\" name=\"phone\" autocomplete=\"tel\" maxlength=\"{LeadCaptureSettings.MaxPhone}\" value=\"{V("phone")}\"{Req(field)}>");
                    break;
                case "question":
                    body.Append($"<label for=\"f-answer\">{H(lead.Question)}</label><textarea id=\"f-answer\" name=\"answer\" rows=\"3\" maxlength=\"{LeadCaptureSettings.MaxAnswer}\"{Req(field)}>{V("answer")}</textarea>");
                    break;
            }
        }
        body.Append($"<label class=\"check\"><input type=\"checkbox\" name=\"consent\" value=\"yes\" required><span>{H(lead.ConsentText)}</span></label>")
            .Append("<button type=\"submit\" name=\"send\" value=\"1\">Continue</button>");
        if (lead.AllowSkip) body.Append("<button type=\"submit\" name=\"skip\" value=\"1\" class=\"secondary\" formnovalidate>Skip</button>");
        body.Append("</form>");
        return Layout(lead.Title.Length > 0 ? lead.Title : "Your details", body.ToString());
    }

    /// <summary>After a form: the target, reached by a refresh the page itself asks for (a redirect answering a form post would need form-action to allow the target).</summary>
    public static string Continuing(string target) => Layout("Continuing…",
        $"<h1>Continuing…</h1><p><a class=\"button\" href=\"{H(target)}\" rel=\"noopener noreferrer nofollow\">Continue</a></p>",
        head: $"<meta http-equiv=\"refresh\" content=\"0;url={H(target)}\">");
}
