using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using QrFunctions.Scans;
using QrFunctions.Storage;
using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Scans;

/// <summary>
/// The steps between a recorded scan and its answer (age gate, location consent, lead form) over HTTP: the first GET records
/// the scan once, the forms post its token, and what they add is stored with that scan, never as another one.
/// </summary>
public partial class ScanFlowTests(ScanTestService service) : IClassFixture<ScanTestService>
{
    private const string Target = "https://example.com/after";

    [GeneratedRegex("name=\"scan\" value=\"([^\"]+)\"")]
    private static partial Regex TokenIn();

    private static string TokenOf(string html) => WebUtility.HtmlDecode(TokenIn().Match(html).Groups[1].Value);

    private static async Task<(HttpResponseMessage Response, string Html)> GetAsync(HttpClient client, string path)
    {
        var response = await client.GetAsync(path);
        return (response, await response.Content.ReadAsStringAsync());
    }

    private static async Task<(HttpResponseMessage Response, string Html)> PostAsync(HttpClient client, string displayId, params (string, string)[] fields)
    {
        var response = await client.PostAsync($"/{displayId}/continue", new FormUrlEncodedContent(fields.Select(f => new KeyValuePair<string, string>(f.Item1, f.Item2))));
        return (response, await response.Content.ReadAsStringAsync());
    }

    private async Task<List<ScanEvent>> EventsOfAsync(string qrId) => (await service.QueuedEventsAsync()).Where(e => e.QrId == qrId).ToList();

    private static HttpClient Visitor(ScanTestService service, string agent)
    {
        var client = service.Anonymous();
        client.DefaultRequestHeaders.TryAddWithoutValidation("User-Agent", agent + " " + Ids.Random(6));
        return client;
    }

    [Fact]
    public async Task TheConsentPageRecordsTheScanOnceAndTheSharedPositionJoinsIt()
    {
        var tenant = await service.NewTenantAsync();
        var (displayId, qrId) = await service.PublishAsync(tenant, "WEB", new JsonObject { ["qrRedirectUrl"] = Target }, new JsonObject { ["locationEnabled"] = true });
        var client = Visitor(service, "located");

        var (consent, html) = await GetAsync(client, "/" + displayId);

        Assert.Equal(HttpStatusCode.OK, consent.StatusCode);
        var csp = consent.Headers.GetValues("Content-Security-Policy").Single();
        Assert.Contains("default-src 'none'", csp);
        Assert.Contains("script-src 'sha256-", csp);
        Assert.DoesNotContain("unsafe", csp);
        Assert.Contains($"<script>{ScanPages.LocationScript}</script>", html);
        var scan = Assert.Single(await EventsOfAsync(qrId));
        Assert.Null(scan.Kind);
        Assert.Matches("^[0-9a-f]{32}$", scan.ScanId);

        var token = TokenOf(html);
        var (answer, answerHtml) = await PostAsync(client, displayId, ("scan", token), ("step", "location"), ("share", "1"), ("latitude", "52.520371"), ("longitude", "13.409511"));
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        Assert.Contains($"<meta http-equiv=\"refresh\" content=\"0;url={Target}\">", answerHtml);
        // The same form sent twice (a double tap): stored and counted once.
        await PostAsync(client, displayId, ("scan", token), ("step", "location"), ("share", "1"), ("latitude", "1"), ("longitude", "2"));

        var events = await EventsOfAsync(qrId);
        Assert.Equal(3, events.Count);
        var located = events.Where(e => e.Kind == ScanEvent.Kinds.Location).ToList();
        Assert.All(located, e => Assert.Equal((scan.ScanId, scan.ScanTime), (e.ScanId, e.ScanTime)));
        Assert.Contains(located, e => e.Latitude == 52.52 && e.Longitude == 13.41);

        await service.AggregateAsync();
        var overview = await ScanTestService.OverviewAsync(tenant, qrId);
        Assert.Equal((1L, 1L), ((long)overview["totalScans"]!, (long)overview["scansWithLocation"]!));
        var row = Assert.Single((await tenant.QrApi().GetAsync($"/api/analytics-api/detailed/{qrId}").DataAsync()).EnumerateArray());
        Assert.Equal((52.52, 13.41), (row.GetProperty("latitude").GetDouble(), row.GetProperty("longitude").GetDouble()));
    }

    [Fact]
    public async Task NoPositionIsStoredWithoutConsentOrWithNonsense()
    {
        var tenant = await service.NewTenantAsync();
        var (displayId, qrId) = await service.PublishAsync(tenant, "WEB", new JsonObject { ["qrRedirectUrl"] = Target }, new JsonObject { ["locationEnabled"] = true });
        var client = Visitor(service, "private");
        var token = TokenOf((await GetAsync(client, "/" + displayId)).Html);

        await PostAsync(client, displayId, ("scan", token), ("step", "location"), ("share", "0"), ("latitude", "52.5"), ("longitude", "13.4"));
        await PostAsync(client, displayId, ("scan", token), ("step", "location"), ("share", "1"), ("latitude", "91"), ("longitude", "13.4"));
        await PostAsync(client, displayId, ("scan", token), ("step", "location"), ("share", "1"), ("latitude", "NaN"), ("longitude", "13.4"));

        Assert.Single(await EventsOfAsync(qrId));
        await service.AggregateAsync();
        Assert.False(Assert.Single((await tenant.QrApi().GetAsync($"/api/analytics-api/detailed/{qrId}").DataAsync()).EnumerateArray()).TryGetProperty("latitude", out _));
    }

    [Fact]
    public async Task ATokenOfAnotherCodeOrAForgedOneContinuesNothing()
    {
        var tenant = await service.NewTenantAsync();
        var (a, aId) = await service.PublishAsync(tenant, "WEB", new JsonObject { ["qrRedirectUrl"] = Target }, new JsonObject { ["locationEnabled"] = true });
        var (b, bId) = await service.PublishAsync(tenant, "WEB", new JsonObject { ["qrRedirectUrl"] = Target }, new JsonObject { ["locationEnabled"] = true });
        var client = Visitor(service, "forger");
        var token = TokenOf((await GetAsync(client, "/" + a)).Html);
        var forged = token[..^2] + (token[^2] == 'A' ? "BB" : "AA");

        foreach (var (code, t) in new[] { (b, token), (a, forged), (a, "1.2.3"), (a, ""), (a, token.Replace(token.Split('.')[0], (Clock.NowMs() - 7_200_000).ToString())) })
        {
            var (response, _) = await PostAsync(client, code, ("scan", t), ("step", "location"), ("share", "1"), ("latitude", "1"), ("longitude", "1"));
            Assert.Equal(HttpStatusCode.SeeOther, response.StatusCode);
            Assert.Equal("/" + code, response.Headers.Location!.ToString());
        }
        Assert.Single(await EventsOfAsync(aId));
        Assert.Empty(await EventsOfAsync(bId));
    }

    [Fact]
    public async Task DecliningTheAgeGateIsADeclinedScanAndConfirmingIsRememberedForTheCodeForADay()
    {
        var tenant = await service.NewTenantAsync();
        var (displayId, qrId) = await service.PublishAsync(tenant, "WEB", new JsonObject { ["qrRedirectUrl"] = Target }, new JsonObject { ["ageGating"] = true, ["minAge"] = 21 });
        var client = Visitor(service, "age");

        var (gate, html) = await GetAsync(client, "/" + displayId);
        Assert.Equal(HttpStatusCode.OK, gate.StatusCode);
        Assert.Contains("Are you 21 or older?", html);
        Assert.DoesNotContain("script", gate.Headers.GetValues("Content-Security-Policy").Single());
        var (declined, declinedHtml) = await PostAsync(client, displayId, ("scan", TokenOf(html)), ("step", "age"), ("answer", "no"));
        Assert.Equal(HttpStatusCode.OK, declined.StatusCode);
        Assert.Contains("only available to people aged 21 and over", declinedHtml);
        Assert.DoesNotContain(Target, declinedHtml);
        Assert.False(declined.Headers.Contains("Set-Cookie"));

        var (_, again) = await GetAsync(client, "/" + displayId);
        var (confirmed, confirmedHtml) = await PostAsync(client, displayId, ("scan", TokenOf(again)), ("step", "age"), ("answer", "yes"));
        Assert.Contains("url=" + Target, confirmedHtml);
        var cookie = Assert.Single(confirmed.Headers.GetValues("Set-Cookie")).Split("; ");
        Assert.Equal("qr_age=21", cookie[0]);
        Assert.Contains("path=/" + displayId, cookie);
        Assert.Equal(["httponly", "max-age=86400", "samesite=lax"], cookie.Skip(1).Where(a => !a.StartsWith("path=")).Select(a => a.ToLowerInvariant()).Order());

        var remembered = new HttpRequestMessage(HttpMethod.Get, "/" + displayId);
        remembered.Headers.Add("Cookie", "qr_age=21");
        Assert.Equal(HttpStatusCode.Found, (await client.SendAsync(remembered)).StatusCode);
        var tooYoung = new HttpRequestMessage(HttpMethod.Get, "/" + displayId);
        tooYoung.Headers.Add("Cookie", "qr_age=18");
        Assert.Contains("Are you 21 or older?", await (await client.SendAsync(tooYoung)).Content.ReadAsStringAsync());

        await service.AggregateAsync();
        var overview = await ScanTestService.OverviewAsync(tenant, qrId);
        Assert.Equal((4L, 1L), ((long)overview["totalScans"]!, (long)overview["declinedScans"]!));
        var rows = (await tenant.QrApi().GetAsync($"/api/analytics-api/detailed/{qrId}").DataAsync()).EnumerateArray().ToList();
        Assert.Single(rows, r => r.TryGetProperty("declined", out var d) && d.GetBoolean());
    }

    [Fact]
    public async Task AGatedCardsDownloadNeedsTheFinishedFlowsToken()
    {
        var tenant = await service.NewTenantAsync();
        var (displayId, _) = await service.PublishAsync(tenant, "VCARD", new JsonObject { ["firstName"] = "Gated" }, new JsonObject { ["ageGating"] = true });
        var client = Visitor(service, "card");

        var direct = await client.GetAsync($"/{displayId}?download=vcf");
        Assert.Equal(HttpStatusCode.SeeOther, direct.StatusCode);

        var (_, gate) = await GetAsync(client, "/" + displayId);
        var flowToken = TokenOf(gate);
        Assert.Equal(HttpStatusCode.SeeOther, (await client.GetAsync($"/{displayId}?download=vcf&scan={Uri.EscapeDataString(flowToken)}")).StatusCode);
        var (_, card) = await PostAsync(client, displayId, ("scan", flowToken), ("step", "age"), ("answer", "yes"));
        var link = WebUtility.HtmlDecode(Regex.Match(card, "href=\"([^\"]*download=vcf[^\"]*)\"").Groups[1].Value);
        Assert.Contains("&scan=", link);

        var download = await client.GetAsync(link);
        Assert.Equal("text/vcard", download.Content.Headers.ContentType!.MediaType);
    }

    [Theory]
    [InlineData("\"x\"")]
    [InlineData("0")]
    [InlineData("100")]
    [InlineData("18.5")]
    [InlineData("true")]
    public async Task MinAgeMustBeAnIntegerFrom1To99(string minAge)
    {
        var tenant = await service.NewTenantAsync();
        var body = "{\"qrType\":\"WEB\",\"qrRedirectUrl\":\"https://example.com/\",\"settings\":{\"ageGating\":true,\"minAge\":" + minAge + "}}";
        await tenant.QrApi().PostAsync("/api/qrs-api", ApiCalls.Json(body)).ErrorAsync(HttpStatusCode.BadRequest, "settings.minAge must be an integer from 1 to 99.");
    }

    [Fact]
    public async Task MinAgeSentAsTextIsStoredAsTheNumber()
    {
        var tenant = await service.NewTenantAsync();
        var created = await tenant.QrApi().PostJsonAsync("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://example.com/", settings = new { ageGating = true, minAge = "21" } })
            .DataAsync(HttpStatusCode.Created);
        Assert.Equal(JsonValueKind.Number, created.GetProperty("settings").GetProperty("minAge").ValueKind);
        Assert.Equal(21, created.GetProperty("settings").GetProperty("minAge").GetInt32());
    }

    [Fact]
    public async Task OverviewCreatedAtIsTheCodesCreationTimeBeforeAnyScan()
    {
        var tenant = await service.NewTenantAsync();
        var created = await tenant.QrApi().PostJsonAsync("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://example.com/" }).DataAsync(HttpStatusCode.Created);

        var overview = await ScanTestService.OverviewAsync(tenant, created.GetProperty("id").GetString()!);

        Assert.Equal(created.GetProperty("createdAt").GetInt64(), (long)overview["createdAt"]!);
        Assert.Equal(0, (long)overview["totalScans"]!);
    }
}
