using System.Net;
using System.Text.Json.Nodes;
using QrFunctions.Scans;
using QrFunctions.Storage;
using Xunit;

namespace QrFunctions.Tests.Scans;

/// <summary>
/// The app as deployed behind Front Door: requests arrive with the app's azurewebsites name as Host (the origin host
/// header), and our profile's rule set adds the visitor's host name and address in headers of our own beside
/// X-Azure-FDID. The azurewebsites name is also listed as shared here (as the infra did before), so only the visitor's
/// host can keep one team's codes off another team's domain.
/// </summary>
public class FrontDoorScanService : ScanTestService
{
    public const string FrontDoorId = "0f5e2a9c-3b1d-4c6e-9a7f-21d4b8e6c3a0";
    public const string AppHost = "func-qr-test-abc123.azurewebsites.net";
    public const string EdgeHost = "scan-test-xyz.z01.azurefd.net";

    protected override IEnumerable<string> Settings =>
    [
        .. base.Settings,
        $"--QrFunctions:FrontDoorId={FrontDoorId}",
        $"--QrFunctions:SharedScanHosts={AppHost},{EdgeHost}",
    ];
}

public class ScansBehindFrontDoor(FrontDoorScanService service) : IClassFixture<FrontDoorScanService>
{
    /// <summary>A request as Front Door forwards it (or, with another <paramref name="frontDoorId"/>, as someone else's Front Door or a direct caller would).</summary>
    private static HttpRequestMessage Forwarded(string path, string? visitorHost, string? frontDoorId = FrontDoorScanService.FrontDoorId,
        string? visitorAddress = null, string host = FrontDoorScanService.AppHost, string? forwardedFor = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Host = host;
        request.Headers.TryAddWithoutValidation("User-Agent", FakeScanClients.Desktop);
        if (frontDoorId is not null) request.Headers.TryAddWithoutValidation(EdgeTrust.FrontDoorIdHeader, frontDoorId);
        if (visitorHost is not null) request.Headers.TryAddWithoutValidation(EdgeTrust.VisitorHostHeader, visitorHost);
        if (visitorAddress is not null) request.Headers.TryAddWithoutValidation(EdgeTrust.VisitorAddressHeader, visitorAddress);
        if (forwardedFor is not null) request.Headers.TryAddWithoutValidation("X-Forwarded-For", forwardedFor);
        return request;
    }

    private async Task<(string Domain, string DisplayId, string QrId)> TeamWithDomainAndCodeAsync()
    {
        var tenant = await service.NewTenantAsync();
        var domain = $"go-{Ids.Random(6).ToLowerInvariant().Replace('_', 'x')}.brand.test";
        await service.UpdateTeamAsync(tenant.TeamId, t => t.DomainsJson = $"[\"https://{domain}/\"]");
        var (displayId, qrId) = await service.PublishAsync(tenant, "WEB", new JsonObject { ["qrRedirectUrl"] = "https://example.com/" + domain });
        return (domain, displayId, qrId);
    }

    private async Task<HttpStatusCode> StatusAsync(HttpRequestMessage request) => (await service.Anonymous().SendAsync(request)).StatusCode;

    [Fact]
    public async Task ACodeOfOneTeamIsNotServedOnAnotherTeamsCustomDomain()
    {
        var a = await TeamWithDomainAndCodeAsync();
        var b = await TeamWithDomainAndCodeAsync();

        Assert.Equal(HttpStatusCode.NotFound, await StatusAsync(Forwarded("/" + a.DisplayId, visitorHost: b.Domain)));
        Assert.Equal(HttpStatusCode.NotFound, await StatusAsync(Forwarded("/" + b.DisplayId, visitorHost: a.Domain)));
        Assert.Equal(HttpStatusCode.NotFound, await StatusAsync(Forwarded("/" + a.DisplayId, visitorHost: "unconfigured.brand.test")));
    }

    [Fact]
    public async Task ATeamsCodeIsServedOnItsOwnDomainAndOnTheSharedEdgeHost()
    {
        var a = await TeamWithDomainAndCodeAsync();

        var own = await service.Anonymous().SendAsync(Forwarded("/" + a.DisplayId, visitorHost: a.Domain));
        Assert.Equal(HttpStatusCode.Found, own.StatusCode);
        Assert.Equal("https://example.com/" + a.Domain, own.Headers.Location!.ToString());
        Assert.Equal(HttpStatusCode.Found, await StatusAsync(Forwarded("/" + a.DisplayId, visitorHost: a.Domain.ToUpperInvariant())));
        Assert.Equal(HttpStatusCode.Found, await StatusAsync(Forwarded("/" + a.DisplayId, visitorHost: FrontDoorScanService.EdgeHost)));
    }

    [Fact]
    public async Task VisitorHeadersWithoutOurFrontDoorIdAreIgnored()
    {
        var a = await TeamWithDomainAndCodeAsync();
        var b = await TeamWithDomainAndCodeAsync();

        // Claiming a's domain does not serve a's code on b's host: the request's Host decides.
        foreach (var id in new[] { null, "", "11111111-2222-3333-4444-555555555555", FrontDoorScanService.FrontDoorId + "x" })
        {
            Assert.Equal(HttpStatusCode.NotFound, await StatusAsync(Forwarded("/" + a.DisplayId, visitorHost: a.Domain, frontDoorId: id, host: b.Domain)));
            Assert.Equal(HttpStatusCode.Found, await StatusAsync(Forwarded("/" + a.DisplayId, visitorHost: b.Domain, frontDoorId: id, host: a.Domain)));
        }
        // Two ids, one of them ours, are not our Front Door speaking.
        var twoIds = Forwarded("/" + a.DisplayId, visitorHost: a.Domain, frontDoorId: null, host: b.Domain);
        twoIds.Headers.TryAddWithoutValidation(EdgeTrust.FrontDoorIdHeader, ["11111111-2222-3333-4444-555555555555", FrontDoorScanService.FrontDoorId]);
        Assert.Equal(HttpStatusCode.NotFound, await StatusAsync(twoIds));
    }

    [Fact]
    public async Task OurFrontDoorWithoutAVisitorHostFallsBackToTheRequestsHost()
    {
        var a = await TeamWithDomainAndCodeAsync();
        var b = await TeamWithDomainAndCodeAsync();

        Assert.Equal(HttpStatusCode.NotFound, await StatusAsync(Forwarded("/" + a.DisplayId, visitorHost: null, host: b.Domain)));
        Assert.Equal(HttpStatusCode.NotFound, await StatusAsync(Forwarded("/" + a.DisplayId, visitorHost: " ", host: b.Domain)));
        Assert.Equal(HttpStatusCode.Found, await StatusAsync(Forwarded("/" + a.DisplayId, visitorHost: null, host: a.Domain)));
    }

    [Fact]
    public async Task TheScannersAddressIsFrontDoorsWordOnlyWithOurId()
    {
        var a = await TeamWithDomainAndCodeAsync();

        Assert.Equal(HttpStatusCode.Found, await StatusAsync(Forwarded("/" + a.DisplayId, a.Domain, visitorAddress: "203.0.113.77", forwardedFor: "198.51.100.9")));
        Assert.Equal(HttpStatusCode.Found, await StatusAsync(Forwarded("/" + a.DisplayId, a.Domain, frontDoorId: "11111111-2222-3333-4444-555555555555",
            visitorAddress: "192.0.2.55", forwardedFor: "198.51.100.9", host: a.Domain)));

        var addresses = (await service.QueuedEventsAsync()).Where(e => e.QrId == a.QrId).Select(e => e.IpAddress).Order().ToList();
        // Ours: the visitor's address from Front Door. Not ours: the connection's side (here the trusted X-Forwarded-For hop).
        Assert.Equal(["198.51.100.0", "203.0.113.0"], addresses);
    }

    [Fact]
    public async Task TheCountryIsFrontDoorsWordOnlyWithOurId()
    {
        var a = await TeamWithDomainAndCodeAsync();
        HttpRequestMessage WithCountry(string? id, string country)
        {
            var request = Forwarded("/" + a.DisplayId, a.Domain, frontDoorId: id, host: a.Domain);
            request.Headers.TryAddWithoutValidation(EdgeTrust.VisitorCountryHeader, country);
            request.Headers.TryAddWithoutValidation(ScanTestService.CountryHeader, "fr"); // a CDN header is not Front Door's
            return request;
        }
        Assert.Equal(HttpStatusCode.Found, await StatusAsync(WithCountry(FrontDoorScanService.FrontDoorId, "ch")));
        Assert.Equal(HttpStatusCode.Found, await StatusAsync(WithCountry(FrontDoorScanService.FrontDoorId, "XX")));

        var countries = (await service.QueuedEventsAsync()).Where(e => e.QrId == a.QrId).Select(e => e.Country).ToList();
        Assert.Equal(["CH", ""], countries);
    }

    [Fact]
    public async Task PerAddressLimitsCountEachVisitorBehindFrontDoorOnItsOwn()
    {
        // Every request comes from the same Front Door connection; the visitors behind it differ.
        for (var i = 1; i <= 30; i++)
        {
            var request = Forwarded($"/api/qrs-api/availability/free-{Ids.Random(8)}", FrontDoorScanService.EdgeHost, visitorAddress: $"203.0.113.{i}");
            var response = await service.Anonymous().SendAsync(request);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"visitor {i}: {(int)response.StatusCode}");
        }
    }
}

/// <summary>Without QrFunctions:FrontDoorId nothing in a visitor header is believed, whatever X-Azure-FDID says.</summary>
public class ScansWithoutFrontDoor(ScanTestService service) : IClassFixture<ScanTestService>
{
    [Fact]
    public async Task VisitorHeadersAreIgnoredWhenNoFrontDoorIsConfigured()
    {
        var tenant = await service.NewTenantAsync();
        var domain = $"go-{Ids.Random(6).ToLowerInvariant().Replace('_', 'x')}.brand.test";
        await service.UpdateTeamAsync(tenant.TeamId, t => t.DomainsJson = $"[\"https://{domain}/\"]");
        var (displayId, qrId) = await service.PublishAsync(tenant, "WEB", new JsonObject { ["qrRedirectUrl"] = "https://example.com/" });

        var request = new HttpRequestMessage(HttpMethod.Get, "/" + displayId);
        request.Headers.Host = "unconfigured.test";
        request.Headers.TryAddWithoutValidation(EdgeTrust.FrontDoorIdHeader, FrontDoorScanService.FrontDoorId);
        request.Headers.TryAddWithoutValidation(EdgeTrust.VisitorHostHeader, domain);
        Assert.Equal(HttpStatusCode.NotFound, (await service.Anonymous().SendAsync(request)).StatusCode);

        var scan = new HttpRequestMessage(HttpMethod.Get, "/" + displayId);
        scan.Headers.TryAddWithoutValidation(EdgeTrust.FrontDoorIdHeader, FrontDoorScanService.FrontDoorId);
        scan.Headers.TryAddWithoutValidation(EdgeTrust.VisitorAddressHeader, "203.0.113.77");
        scan.Headers.TryAddWithoutValidation("X-Forwarded-For", "198.51.100.9");
        Assert.Equal(HttpStatusCode.Found, (await service.Anonymous().SendAsync(scan)).StatusCode);
        Assert.Equal(["198.51.100.0"], (await service.QueuedEventsAsync()).Where(e => e.QrId == qrId).Select(e => e.IpAddress));
    }
}

/// <summary>The app reached directly, no proxy trusted: a CDN-style country header is the visitor's own word.</summary>
public class DirectScanService : ScanTestService
{
    protected override IEnumerable<string> Settings => [.. base.Settings, "--QrFunctions:TrustForwardedFor=false"];
}

public class CountryHeadersWithoutATrustedProxy(DirectScanService service) : IClassFixture<DirectScanService>
{
    [Fact]
    public async Task AConfiguredCountryHeaderIsIgnoredWhenNoProxyInFrontIsTrusted()
    {
        var tenant = await service.NewTenantAsync();
        var (displayId, qrId) = await service.PublishAsync(tenant, "WEB", new JsonObject { ["qrRedirectUrl"] = "https://example.com/" });
        var scan = new HttpRequestMessage(HttpMethod.Get, "/" + displayId);
        scan.Headers.TryAddWithoutValidation(ScanTestService.CountryHeader, "DE");
        scan.Headers.TryAddWithoutValidation(EdgeTrust.VisitorCountryHeader, "CH");

        Assert.Equal(HttpStatusCode.Found, (await service.Anonymous().SendAsync(scan)).StatusCode);

        Assert.Equal([""], (await service.QueuedEventsAsync()).Where(e => e.QrId == qrId).Select(e => e.Country));
    }
}
