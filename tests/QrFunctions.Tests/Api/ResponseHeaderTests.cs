using System.Net;
using QrFunctions.Scans;
using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Api;

/// <summary>Headers the policy runner puts on every answer, and the invitation page's, which is as locked down as a scan page.</summary>
public class ResponseHeaderTests(TestService service) : IClassFixture<TestService>
{
    public static TheoryData<string, string, bool> Calls => new()
    {
        { "GET", "/api/qr-templates-api", true },
        { "GET", "/v1/organizations", true },
        { "GET", "/api/qrs-api/qr_nosuchcode", true },
        { "POST", "/api/teams-api", true },
        { "GET", "/openapi/v1.json", false },
        { "GET", "/api/qrs-api/availability/free-one", false },
        { "GET", "/no-such-code", false },
        { "GET", "/invite/no.such-token", false },
        { "GET", "/api/nothing-here", false },
    };

    /// <summary>Every function's answer, success or refusal, tells browsers not to guess its type; credentialed ones are never cached.</summary>
    [Theory]
    [MemberData(nameof(Calls))]
    public async Task EveryAnswerIsNosniffAndEveryAuthenticatedOneNoStore(string method, string path, bool authenticated)
    {
        var tenant = await service.NewTenantAsync();
        var client = !authenticated ? service.Anonymous() : path.StartsWith("/v1", StringComparison.Ordinal) ? tenant.V1() : tenant.QrApi();
        var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (method == "POST") request.Content = ApiCalls.Json("{}");
        var response = await client.SendAsync(request);

        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        if (authenticated) Assert.Equal("no-store", response.Headers.CacheControl?.ToString());
        // Without credentials it is refused, and that refusal is not cached either.
        if (authenticated)
        {
            var refused = await service.Anonymous().SendAsync(new HttpRequestMessage(new HttpMethod(method), path));
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Equal("nosniff", refused.Headers.GetValues("X-Content-Type-Options").Single());
            Assert.Equal("no-store", refused.Headers.CacheControl?.ToString());
        }
    }

    [Theory]
    [InlineData("GET")]
    [InlineData("POST")]
    public async Task TheInvitationPageHasTheScanPagesContentSecurityPolicy(string method)
    {
        var response = await service.Anonymous().SendAsync(new HttpRequestMessage(new HttpMethod(method), "/invite/team_x.not-a-token"));
        Assert.Equal("text/html", response.Content.Headers.ContentType!.MediaType);
        var csp = response.Headers.GetValues("Content-Security-Policy").Single();
        Assert.Equal(ScanPages.ContentSecurityPolicy, csp);
        Assert.Contains("frame-ancestors 'none'", csp);
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Contains("no-store", response.Headers.CacheControl!.ToString());
        Assert.Equal("no-referrer", response.Headers.GetValues("Referrer-Policy").Single());
    }

    [Fact]
    public async Task AScanRedirectStaysPrivateNoStore()
    {
        var tenant = await service.NewTenantAsync();
        var qr = await tenant.QrApi().PostJsonAsync("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://example.com/" }).DataAsync(HttpStatusCode.Created);
        var client = service.Anonymous();
        var response = await client.GetAsync("/" + qr.GetProperty("displayId").GetString());
        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        Assert.True(response.Headers.CacheControl is { Private: true, NoStore: true, Public: false }, response.Headers.CacheControl?.ToString());
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
    }
}
