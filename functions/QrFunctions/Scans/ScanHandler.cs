using System.Text;
using System.Text.Json.Nodes;
using System.Threading.RateLimiting;
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
    VisitorSalt salt, ScanTokens tokens, Leads.LeadStore leads, IConfiguration configuration, ILogger<ScanHandler> log)
{
    private readonly EdgeTrust _edge = EdgeTrust.From(configuration);
    private readonly HashSet<string> _sharedHosts = SharedHosts(configuration);

    // Leads per visitor and instance: QrFunctions:LeadBurst at once, then QrFunctions:LeadsPerMinute; no storage round trip.
    private readonly PartitionedRateLimiter<string> _leadsPerVisitor = PartitionedRateLimiter.Create<string, string>(visitor =>
        RateLimitPartition.GetTokenBucketLimiter(visitor, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = Math.Max(1, configuration.GetValue("QrFunctions:LeadBurst", 3)),
            TokensPerPeriod = Math.Max(1, configuration.GetValue("QrFunctions:LeadsPerMinute", 2)),
            ReplenishmentPeriod = TimeSpan.FromMinutes(1), QueueLimit = 0, AutoReplenishment = true,
        }));

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

    /// <summary>A live code this host serves, with what every answer needs.</summary>
    private sealed record Servable(ResolvedRoute Route, JsonObject Qr, JsonObject Settings, string Type, ScanFlow Flow);

    /// <summary>The code behind a scan path, or null after answering why not (404/410/503 page): owner, host, expiry, schedule.</summary>
    private async Task<Servable?> ResolveAsync(HttpContext context, string displayId, long now)
    {
        var ct = context.RequestAborted;
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
            return null;
        }

        if (route is not { IsServable: true } || team is null || team.Archived || team.OrgId != route.OrgId || org is null || org.Deleted
            || !HostServesTeam(_edge.Host(context), team))
        {
            await PageAsync(context, 404, ScanPages.Message("Not found", "This QR code does not exist or is no longer active."));
            return null;
        }

        var qr = route.Qr!;
        var settings = QrContent.Settings(qr);
        var expiry = QrContent.Number(settings["expiryDate"]) ?? QrContent.Number(qr["expiryDate"]);
        if (expiry is { } expiresAt && expiresAt <= now)
        {
            await PageAsync(context, 410, ScanPages.Message("Expired", "This QR code has expired."));
            return null;
        }
        if (QrContent.Flag(settings["scheduleCampaign"]))
        {
            if (QrContent.Number(settings["campaignStart"]) is { } start && now < start)
            {
                await PageAsync(context, 404, ScanPages.Message("Not started yet", "This campaign has not started yet."));
                return null;
            }
            if (QrContent.Number(settings["campaignEnd"]) is { } end && now > end)
            {
                await PageAsync(context, 404, ScanPages.Message("Campaign ended", "This campaign has ended."));
                return null;
            }
        }
        return new Servable(route, qr, settings, QrContent.Type(qr), ScanFlow.Of(settings));
    }

    public async Task ServeAsync(HttpContext context, string displayId, string? submittedPassword)
    {
        var ct = context.RequestAborted;
        var now = Clock.NowMs();
        if (await ResolveAsync(context, displayId, now) is not { } code) return;
        var (route, qr, settings, type, flow) = code;

        var wantsVcf = type == "VCARD" && context.Request.Query["download"] == "vcf";
        // A finished flow's token stands for its gates and its password: the download follows that recorded scan.
        if (wantsVcf && await tokens.ReadAsync(ScanTokens.Done, context.Request.Query["scan"].ToString(), route.QrId, now, ct) is not null
            || wantsVcf && submittedPassword is not null && context.Request.HasFormContentType
               && await tokens.ReadAsync(ScanTokens.Done, context.Request.Form["scan"].ToString(), route.QrId, now, ct) is not null)
        {
            await VcfAsync(context, qr);
            return;
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

        var client = classifier.Classify(context.Request.Headers.UserAgent.ToString(), context.Request.Method);
        if (wantsVcf)
        {
            // The download follows a recorded page view of the same scan: it is served, not counted again. A gated code's
            // card is only for a scan that went through its gates: without their token the download starts a scan.
            if (flow.Gates && (flow.Lead is { AllowSkip: false } || !AgeRemembered(context, flow)))
            {
                context.Response.Headers.CacheControl = "private, no-store";
                context.Response.Redirect("/" + Uri.EscapeDataString(displayId), permanent: false, preserveMethod: false);
                context.Response.StatusCode = 303;
                return;
            }
            await VcfAsync(context, qr);
            return;
        }

        var (target, page) = Answer(context, code, client, now, locked ? submittedPassword : null, downloadToken: null);
        if (target is null && page is null)
        {
            await PageAsync(context, 404, ScanPages.Message("Not found", "This QR code has nothing to show yet."));
            return;
        }

        // A code with steps gives its scan an id, so the steps after this answer add to this scan instead of counting another.
        var scan = flow.Any ? new ScanRef(now, ScanTokens.NewScanId()) : null;
        if (!await RecordAsync(context, displayId, () => EventAsync(context, route, client, now, scan?.ScanId, ct))) return;

        if (scan is not null && flow.Next(null, AgeRemembered(context, flow)) is { } step)
        {
            await StepPageAsync(context, displayId, code, step, scan, ct);
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
        if (scan is not null && type == "VCARD" && (flow.Gates || locked))
            page = Answer(context, code, client, now, null, await tokens.IssueAsync(ScanTokens.Done, route.QrId, scan, ct)).Page;
        await PageAsync(context, 200, page!);
    }

    /// <summary>
    /// The form of a step posts here (docs/scans.md#scan-flow): the token names the scan its first answer recorded, so
    /// nothing here counts a scan. Age: yes remembers it for the code for a day and goes on, no is recorded as a declined
    /// scan and ends; location: a shared position is recorded with the scan; lead: a valid lead is stored with the scan.
    /// After the last step the code's answer: its page, or the target (by a page that refreshes to it).
    /// </summary>
    public async Task ContinueAsync(HttpContext context, string displayId, IFormCollection form)
    {
        var ct = context.RequestAborted;
        var now = Clock.NowMs();
        if (await ResolveAsync(context, displayId, now) is not { } code) return;
        var (route, _, _, _, flow) = code;
        if (await tokens.ReadAsync(ScanTokens.Flow, form["scan"].ToString(), route.QrId, now, ct) is not { } scan)
        {
            // Stale, forged or another code's: not a scan of ours to continue. The GET it goes to is a new, recorded scan.
            context.Response.Headers.CacheControl = "private, no-store";
            context.Response.Redirect("/" + Uri.EscapeDataString(displayId), permanent: false, preserveMethod: false);
            context.Response.StatusCode = 303;
            return;
        }

        var remembered = AgeRemembered(context, flow);
        string? next;
        switch (form["step"].ToString())
        {
            case ScanFlow.Age when flow.MinAge is { } minAge:
                var answer = form["answer"].ToString();
                if (answer == "yes")
                {
                    RememberAge(context, displayId, minAge);
                    next = flow.Next(ScanFlow.Age, remembered);
                }
                else if (answer == "no")
                {
                    if (!await RecordAsync(context, displayId, () => Task.FromResult(FollowUp(route, scan, ScanEvent.Kinds.Declined)))) return;
                    await PageAsync(context, 200, ScanPages.AgeDeclined(minAge));
                    return;
                }
                else next = ScanFlow.Age;
                break;
            case ScanFlow.LocationStep when flow.Location:
                if (form["share"] == "1" && Coordinate(form["latitude"], 90) is { } lat && Coordinate(form["longitude"], 180) is { } lng)
                {
                    var located = FollowUp(route, scan, ScanEvent.Kinds.Location) with { Latitude = lat, Longitude = lng };
                    if (!await RecordAsync(context, displayId, () => Task.FromResult(located))) return;
                }
                next = flow.Next(ScanFlow.LocationStep, remembered);
                break;
            case ScanFlow.LeadStep when flow.Lead is { } lead:
                if (form["skip"] == "1" && lead.AllowSkip)
                {
                    next = flow.Next(ScanFlow.LeadStep, remembered);
                    break;
                }
                var (input, values, errors) = Leads.LeadInputs.Read(lead, form, skipAsked: form["skip"] == "1");
                if (errors.Count > 0)
                {
                    await PageAsync(context, 400, ScanPages.LeadForm(displayId, await tokens.IssueAsync(ScanTokens.Flow, route.QrId, scan, ct), lead, values, errors));
                    return;
                }
                using (var lease = _leadsPerVisitor.AttemptAcquire(VisitorKey(context)))
                {
                    if (!lease.IsAcquired)
                    {
                        context.Response.Headers.RetryAfter = "60";
                        await PageAsync(context, 429, ScanPages.Message("Please wait", "Too many forms were sent from this device. Please try again in a minute."));
                        return;
                    }
                }
                try
                {
                    await leads.AddAsync(route.TeamId, route.QrId, scan, lead, input!, ct);
                }
                catch (Exception ex) when (ex is RequestFailedException || (StorageFailures.IsTransient(ex) && !ct.IsCancellationRequested))
                {
                    log.LogError(ex, "Storing a lead of {DisplayId} failed", displayId);
                    await UnavailableAsync(context);
                    return;
                }
                next = flow.Next(ScanFlow.LeadStep, remembered);
                break;
            default:
                next = flow.Next(null, remembered); // a step this code does not have: start from its first
                break;
        }

        if (next is not null)
        {
            await StepPageAsync(context, displayId, code, next, scan, ct);
            return;
        }
        var client = classifier.Classify(context.Request.Headers.UserAgent.ToString(), "GET");
        var locked = Qrs.QrPasswords.IsProtected(code.Settings);
        var token = code.Type == "VCARD" && (flow.Gates || locked) ? await tokens.IssueAsync(ScanTokens.Done, route.QrId, scan, ct) : null;
        var (target, page) = Answer(context, code, client, now, null, token);
        if (target is not null) await PageAsync(context, 200, ScanPages.Continuing(target));
        else if (page is not null) await PageAsync(context, 200, page);
        else await PageAsync(context, 404, ScanPages.Message("Not found", "This QR code has nothing to show yet."));
    }

    /// <summary>The redirect target, or the page, a scan of the code answers with (neither: nothing to show).</summary>
    private static (string? Target, ScanPage? Page) Answer(HttpContext context, Servable code, ScanClient client, long now, string? unlockPassword, string? downloadToken)
    {
        var qr = code.Qr;
        switch (code.Type)
        {
            case "WEB" or "SHORT_LINK":
                return (code.Route.DirectTarget, null);
            case "MULTI_LOCALE":
                return (LocaleTarget(qr, context.Request.Headers.AcceptLanguage.ToString()), null);
            case "APP_DOWNLOAD":
                var target = AppTarget(qr, client.Platform);
                return target is null && (QrContent.HttpUrl(QrContent.Text(qr, "iosUrl")) ?? QrContent.HttpUrl(QrContent.Text(qr, "androidUrl"))) is not null
                    ? (null, ScanPages.AppDownload(qr)) : (target, null);
            case "PDF" when (QrContent.HttpUrl(QrContent.Text(qr, "pdfUrl")) ?? QrContent.HttpUrl(QrContent.Text(qr, "qrRedirectUrl"))) is null:
                return (null, null);
            default:
                return (null, ScanPages.For(code.Type, qr, code.Route.DisplayId, now, unlockPassword, downloadToken));
        }
    }

    private async Task StepPageAsync(HttpContext context, string displayId, Servable code, string step, ScanRef scan, CancellationToken ct)
    {
        var token = await tokens.IssueAsync(ScanTokens.Flow, code.Route.QrId, scan, ct);
        ScanPage page = step switch
        {
            ScanFlow.Age => ScanPages.AgeGate(displayId, token, code.Flow.MinAge!.Value),
            ScanFlow.LocationStep => ScanPages.LocationConsent(displayId, token),
            _ => ScanPages.LeadForm(displayId, token, code.Flow.Lead!, new Dictionary<string, string>(), []),
        };
        await PageAsync(context, 200, page);
    }

    /// <summary>Appends an event to the group commit and awaits its write; false after answering 503 (the scanner tries again).</summary>
    private async Task<bool> RecordAsync(HttpContext context, string displayId, Func<Task<ScanEvent>> make)
    {
        var ct = context.RequestAborted;
        try
        {
            await batcher.AppendAsync(await make());
            return true;
        }
        catch (ScanNotRecordedException)
        {
            await UnavailableAsync(context);
            return false;
        }
        catch (Exception ex) when (ex is RequestFailedException || (StorageFailures.IsTransient(ex) && !ct.IsCancellationRequested))
        {
            log.LogError(ex, "Visitor salt unavailable for scan {DisplayId}", displayId);
            await UnavailableAsync(context);
            return false;
        }
    }

    /// <summary>What a later step adds to a recorded scan: the scan's own time and id, nothing about the visitor.</summary>
    private static ScanEvent FollowUp(ResolvedRoute route, ScanRef scan, string kind) => new()
    {
        QrId = route.QrId, TeamId = route.TeamId, OrgId = route.OrgId, ScanTime = scan.ScanTime, Kind = kind, ScanId = scan.ScanId, AnsweredAt = Clock.NowMicroseconds(),
    };

    /// <summary>A latitude or longitude as the form sent it, rounded to 3 decimals (about 100 m); null when it is not one.</summary>
    public static double? Coordinate(string? text, double bound) =>
        text is { Length: > 0 and <= 32 } && double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var value)
        && double.IsFinite(value) && Math.Abs(value) <= bound ? Math.Round(value, 3, MidpointRounding.AwayFromZero) : null;

    public const string AgeCookie = "qr_age";

    /// <summary>This browser confirmed at least the code's minimum age for this code within a day (a cookie scoped to the code's path).</summary>
    private static bool AgeRemembered(HttpContext context, ScanFlow flow) =>
        flow.MinAge is { } minAge && int.TryParse(context.Request.Cookies[AgeCookie], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var confirmed)
        && confirmed >= minAge && confirmed <= 99;

    private void RememberAge(HttpContext context, string displayId, int minAge) =>
        context.Response.Cookies.Append(AgeCookie, minAge.ToString(System.Globalization.CultureInfo.InvariantCulture), new CookieOptions
        {
            Path = "/" + Uri.EscapeDataString(displayId),
            MaxAge = TimeSpan.FromDays(1),
            HttpOnly = true,
            SameSite = SameSiteMode.Lax,
            Secure = context.Request.IsHttps || _edge.CameThroughFrontDoor(context),
        });

    /// <summary>One visitor for the lead limit: their address and browser, as for the daily visitor hash (a shared address is not one visitor).</summary>
    private string VisitorKey(HttpContext context) =>
        (_edge.ClientAddress(context)?.ToString() ?? "unknown") + "\n" + Clip(context.Request.Headers.UserAgent.ToString(), 256);

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

    private async Task<ScanEvent> EventAsync(HttpContext context, ResolvedRoute route, ScanClient client, long now, string? scanId, CancellationToken ct)
    {
        var head = HttpMethods.IsHead(context.Request.Method);
        var isBot = head || client.IsBot;
        var address = _edge.ClientAddress(context);
        var userAgent = context.Request.Headers.UserAgent.ToString();
        var referrer = context.Request.Headers.Referer.ToString();
        var (country, city) = _edge.Geo(context);
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
            ScanId = scanId,
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

    public static async Task PageAsync(HttpContext context, int status, ScanPage page)
    {
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = "text/html; charset=utf-8";
        response.Headers.CacheControl = "private, no-store";
        response.Headers.ContentSecurityPolicy = page.Csp;
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers["Referrer-Policy"] = "no-referrer";
        if (!HttpMethods.IsHead(context.Request.Method)) await response.WriteAsync(page.Html, Encoding.UTF8, context.RequestAborted);
    }
}
