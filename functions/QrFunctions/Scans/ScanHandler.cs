using System.Text;
using System.Text.Json.Nodes;
using Azure;
using QrFunctions.Auth;
using QrFunctions.Storage;
using QrFunctions.Teams;

namespace QrFunctions.Scans;

/// <summary>
/// Answers one scan: resolve the code (cached), check owner state, host, expiry, schedule and
/// password, record the event (awaiting its group commit), then redirect or render. A scan is only
/// answered as served once its event is in the queue; otherwise 503 so the scanner tries again.
/// </summary>
public sealed class ScanHandler(ScanRoutes routes, TenantDirectory directory, ScanEventBatcher batcher, IScanClientClassifier classifier, GeoLocator geo,
    VisitorSalt salt, IConfiguration configuration, ILogger<ScanHandler> log)
{
    private readonly EdgeTrust _edge = EdgeTrust.From(configuration);
    private readonly string? _countryHeader = configuration["QrFunctions:GeoCountryHeader"];
    private readonly string? _cityHeader = configuration["QrFunctions:GeoCityHeader"];
    private readonly HashSet<string> _sharedHosts = SharedHosts(configuration);

    /// <summary>Hosts that serve every team's codes: loopback, the PublicBaseUrl host and QrFunctions:SharedScanHosts (comma-separated).</summary>
    private static HashSet<string> SharedHosts(IConfiguration configuration)
    {
        var hosts = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "localhost", "127.0.0.1", "[::1]", "::1" };
        if (HostOf(configuration["QrFunctions:PublicBaseUrl"]) is { } publicHost) hosts.Add(publicHost);
        foreach (var h in (configuration["QrFunctions:SharedScanHosts"] ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            if (HostOf(h) is { } host) hosts.Add(host);
        return hosts;
    }

    /// <summary>"https://go.example.com/" or "go.example.com" → "go.example.com".</summary>
    public static string? HostOf(string? domain)
    {
        if (string.IsNullOrWhiteSpace(domain)) return null;
        var text = domain.Trim();
        if (!text.Contains("://")) text = "https://" + text;
        return Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Host.Length > 0 ? uri.Host : null;
    }

    public async Task ServeAsync(HttpContext context, string displayId, string? submittedPassword)
    {
        var ct = context.RequestAborted;
        var now = Clock.NowMs();
        ResolvedRoute? route;
        Team? team;
        Organizations.Organization? org;
        try
        {
            route = await routes.FindAsync(displayId, ct);
            team = route is null ? null : await directory.TeamAsync(route.TeamId);
            org = route is null ? null : await directory.OrgAsync(route.OrgId);
        }
        catch (Exception ex) when (ex is RequestFailedException || (StorageFailures.IsTransient(ex) && !ct.IsCancellationRequested))
        {
            log.LogError(ex, "Resolving scan {DisplayId} failed", displayId);
            await UnavailableAsync(context);
            return;
        }

        if (route is not { IsServable: true } || team is null || team.Archived || team.OrgId != route.OrgId || org is null || org.Deleted
            || !HostServesTeam(_edge.Host(context), team))
        {
            await PageAsync(context, 404, ScanPages.Message("Not found", "This QR code does not exist or is no longer active."));
            return;
        }

        var qr = route.Qr!;
        var settings = QrContent.Settings(qr);
        var expiry = QrContent.Number(settings["expiryDate"]) ?? QrContent.Number(qr["expiryDate"]);
        if (expiry is { } expiresAt && expiresAt <= now)
        {
            await PageAsync(context, 410, ScanPages.Message("Expired", "This QR code has expired."));
            return;
        }
        if (QrContent.Flag(settings["scheduleCampaign"]))
        {
            if (QrContent.Number(settings["campaignStart"]) is { } start && now < start)
            {
                await PageAsync(context, 404, ScanPages.Message("Not started yet", "This campaign has not started yet."));
                return;
            }
            if (QrContent.Number(settings["campaignEnd"]) is { } end && now > end)
            {
                await PageAsync(context, 404, ScanPages.Message("Campaign ended", "This campaign has ended."));
                return;
            }
        }

        var locked = Qrs.QrPasswords.IsProtected(settings);
        if (locked)
        {
            if (submittedPassword is null)
            {
                await PageAsync(context, 200, ScanPages.PasswordForm(displayId, wrong: false));
                return;
            }
            if (!Qrs.QrPasswords.Matches(settings, submittedPassword))
            {
                await PageAsync(context, 401, ScanPages.PasswordForm(displayId, wrong: true));
                return;
            }
        }
        else if (submittedPassword is not null)
        {
            // Nothing to unlock: send the browser to the ordinary scan (which records it), do not count the POST.
            context.Response.Headers.CacheControl = "private, no-store";
            context.Response.Redirect("/" + Uri.EscapeDataString(displayId), permanent: false, preserveMethod: false);
            context.Response.StatusCode = 303;
            return;
        }

        var type = QrContent.Type(qr);
        var client = classifier.Classify(context.Request.Headers.UserAgent.ToString(), context.Request.Method);
        var wantsVcf = type == "VCARD" && context.Request.Query["download"] == "vcf";
        if (wantsVcf)
        {
            // The download follows a recorded page view of the same scan: it is served, not counted again.
            await VcfAsync(context, qr);
            return;
        }

        string? target = null, page = null;
        switch (type)
        {
            case "WEB" or "SHORT_LINK" or "PDF":
                target = route.DirectTarget;
                break;
            case "MULTI_LOCALE":
                target = LocaleTarget(qr, context.Request.Headers.AcceptLanguage.ToString());
                break;
            case "APP_DOWNLOAD":
                target = AppTarget(qr, client.Platform);
                if (target is null && (QrContent.HttpUrl(QrContent.Text(qr, "iosUrl")) ?? QrContent.HttpUrl(QrContent.Text(qr, "androidUrl"))) is not null)
                    page = ScanPages.AppDownload(qr);
                break;
            default:
                page = ScanPages.For(type, qr, displayId, now, locked ? submittedPassword : null);
                break;
        }
        if (target is null && page is null)
        {
            await PageAsync(context, 404, ScanPages.Message("Not found", "This QR code has nothing to show yet."));
            return;
        }

        try
        {
            await batcher.AppendAsync(await EventAsync(context, route, client, now, ct));
        }
        catch (ScanNotRecordedException)
        {
            await UnavailableAsync(context);
            return;
        }
        catch (Exception ex) when (ex is RequestFailedException || (StorageFailures.IsTransient(ex) && !ct.IsCancellationRequested))
        {
            log.LogError(ex, "Visitor salt unavailable for scan {DisplayId}", displayId);
            await UnavailableAsync(context);
            return;
        }

        if (target is not null)
        {
            context.Response.StatusCode = 302;
            context.Response.Headers.Location = target;
            context.Response.Headers.CacheControl = "private, no-store";
            context.Response.Headers["Referrer-Policy"] = "no-referrer";
            return;
        }
        await PageAsync(context, 200, page!);
    }

    private bool HostServesTeam(string host, Team team)
    {
        if (_sharedHosts.Contains(host)) return true;
        if (HostOf(team.DefaultDomain) is { } d && d.Equals(host, StringComparison.OrdinalIgnoreCase)) return true;
        if (HostOf(team.CustomDomain) is { } c && c.Equals(host, StringComparison.OrdinalIgnoreCase)) return true;
        try
        {
            return team.Domains().Any(x => HostOf(x) is { } h && h.Equals(host, StringComparison.OrdinalIgnoreCase));
        }
        catch (System.Text.Json.JsonException)
        {
            return false;
        }
    }

    /// <summary>The first Accept-Language range (by q) with an exact locale, then its primary language, then any locale of that language.</summary>
    public static string? LocaleTarget(JsonObject qr, string? acceptLanguage)
    {
        var choices = QrContent.Items(qr, "qrRedirectUrls")
            .Select(o => (Locale: QrContent.TextOf(o["locale"]), Url: QrContent.HttpUrl(QrContent.TextOf(o["qrRedirectUrl"]))))
            .Where(c => c.Locale.Length > 0 && c.Url is not null)
            .ToList();
        static string Primary(string tag) => tag.Split('-', '_')[0];
        foreach (var tag in ScanRequest.Languages(acceptLanguage))
        {
            if (tag == "*") break;
            var hit = choices.FirstOrDefault(c => c.Locale.Replace('_', '-').Equals(tag, StringComparison.OrdinalIgnoreCase)).Url
                ?? choices.FirstOrDefault(c => c.Locale.Equals(Primary(tag), StringComparison.OrdinalIgnoreCase)).Url
                ?? choices.FirstOrDefault(c => Primary(c.Locale).Equals(Primary(tag), StringComparison.OrdinalIgnoreCase)).Url;
            if (hit is not null) return hit;
        }
        return QrContent.HttpUrl(QrContent.Text(qr, "defaultQrRedirectUrl")) ?? QrContent.HttpUrl(QrContent.Text(qr, "qrRedirectUrl"));
    }

    public static string? AppTarget(JsonObject qr, MobilePlatform platform)
    {
        var store = platform switch
        {
            MobilePlatform.Ios => QrContent.HttpUrl(QrContent.Text(qr, "iosUrl")),
            MobilePlatform.Android => QrContent.HttpUrl(QrContent.Text(qr, "androidUrl")),
            _ => null,
        };
        return store ?? QrContent.HttpUrl(QrContent.Text(qr, "fallbackUrl")) ?? QrContent.HttpUrl(QrContent.Text(qr, "qrRedirectUrl"));
    }

    private async Task<ScanEvent> EventAsync(HttpContext context, ResolvedRoute route, ScanClient client, long now, CancellationToken ct)
    {
        var head = HttpMethods.IsHead(context.Request.Method);
        var isBot = head || client.IsBot;
        var address = _edge.ClientAddress(context);
        var userAgent = context.Request.Headers.UserAgent.ToString();
        var referrer = context.Request.Headers.Referer.ToString();
        var country = ScanRequest.EdgeHeader(context, _countryHeader, 2).ToUpperInvariant();
        var city = ScanRequest.EdgeHeader(context, _cityHeader, 64);
        if (country.Length == 0 && city.Length == 0) (country, city) = geo.Locate(address);
        return new ScanEvent
        {
            QrId = route.QrId,
            TeamId = route.TeamId,
            OrgId = route.OrgId,
            ScanTime = now,
            Device = isBot ? "bot" : Clip(client.DeviceType, 16),
            Os = Clip(client.Os, 64),
            Browser = Clip(client.Browser, 64),
            Country = country.All(char.IsAsciiLetterUpper) ? country : "",
            City = Clip(city, 64),
            IpAddress = ScanRequest.Anonymize(address),
            Referrer = Clip(referrer, 512),
            Language = ScanRequest.FirstLanguage(context.Request.Headers.AcceptLanguage.ToString()),
            IsBot = isBot,
            BotReason = head ? "head-request" : isBot ? Clip(client.BotReason ?? "user-agent", 64) : null,
            VisitorHash = await salt.VisitorHashAsync(VisitorSalt.DayOf(now), address?.ToString() ?? "", Clip(userAgent, 1024), ct),
        };
    }

    private static string Clip(string? value, int max) => value is null ? "" : value.Length <= max ? value : value[..max];

    private static async Task VcfAsync(HttpContext context, JsonObject qr)
    {
        context.Response.StatusCode = 200;
        context.Response.ContentType = VCard.ContentType;
        context.Response.Headers.CacheControl = "private, no-store";
        context.Response.Headers.ContentDisposition = "attachment; filename=\"contact.vcf\"";
        context.Response.Headers.XContentTypeOptions = "nosniff";
        if (!HttpMethods.IsHead(context.Request.Method)) await context.Response.WriteAsync(VCard.Build(qr), Encoding.UTF8, context.RequestAborted);
    }

    private static Task UnavailableAsync(HttpContext context)
    {
        context.Response.Headers.RetryAfter = "1";
        return PageAsync(context, 503, ScanPages.Message("Try again", "This QR code cannot be opened right now. Please scan it again in a moment."));
    }

    public static async Task PageAsync(HttpContext context, int status, string html)
    {
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = "text/html; charset=utf-8";
        response.Headers.CacheControl = "private, no-store";
        response.Headers.ContentSecurityPolicy = ScanPages.ContentSecurityPolicy;
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers["Referrer-Policy"] = "no-referrer";
        if (!HttpMethods.IsHead(context.Request.Method)) await response.WriteAsync(html, Encoding.UTF8, context.RequestAborted);
    }
}
