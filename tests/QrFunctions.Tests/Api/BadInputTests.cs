using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using QrFunctions.Auth;
using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Api;

/// <summary>
/// Input an attacker sends, not a client: every such request is refused with a 4xx in its surface's envelope, never a 5xx.
/// "{team}" in a path or body stands for the tenant's own team, so the request reaches the function's own checks.
/// </summary>
public class BadInputTests(TestService service) : IClassFixture<TestService>
{
    private const string Web = "\"qrType\":\"WEB\",\"qrRedirectUrl\":\"https://example.com/\"";

    public static TheoryData<string, string, string, string> DuplicateKeys => new()
    {
        { "POST", "/api/teams-api", """{"name":"a","name":"b"}""", "name" },
        { "POST", "/api/qrs-api", """{"qrType":"WEB","qrType":"PDF","qrRedirectUrl":"https://example.com/"}""", "qrType" },
        { "POST", "/api/qrs-api", "{" + Web + ""","metadata":{"x":1,"x":2}}""", "x" },
        { "POST", "/api/analytics-api/overviews", """{"qrIds":[],"qrIds":["a"]}""", "qrIds" },
        { "POST", "/v1/webhooks", """{"url":"https://example.com/a","url":"https://example.com/b","events":["codes.created"]}""", "url" },
        { "PATCH", "/v1/workspaces/{team}", """{"name":"a","name":"b"}""", "name" },
    };

    [Theory]
    [MemberData(nameof(DuplicateKeys))]
    public async Task ARepeatedJsonKeyIs400NamingTheKey(string method, string path, string body, string key)
    {
        var tenant = await service.NewTenantAsync();
        var response = await SendAsync(tenant, method, path, Encoding.UTF8.GetBytes(body));
        var message = await RefusalAsync(response, path, HttpStatusCode.BadRequest);
        Assert.Contains($"'{key}'", message);
    }

    public static TheoryData<string, string, string> NotUnicode => new()
    {
        { "POST", "/api/teams-api", """{"name":"\ud800"}""" },
        { "POST", "/api/qrs-api", "{" + Web + ""","name":"x\udc00"}""" },
        { "POST", "/api/qrs-api", "{" + Web + ""","unknownExtra":{"\ud800":1}}""" },
        { "POST", "/v1/api-keys", """{"name":"\ud800"}""" },
        { "POST", "/v1/workspaces", """{"name":"\ud800","slug":"fine-slug"}""" },
        { "PATCH", "/api/qrs-api/{qr}/title", """{"title":"\ud800"}""" },
        { "POST", "/api/analytics-api/overviews", """{"qrIds":["\ud800"]}""" },
        { "POST", "/api/teams-api", "{\"name\":\"INVALID_UTF8\"}" },
        { "PATCH", "/v1/workspaces/{team}", "{\"name\":\"INVALID_UTF8\"}" },
    };

    /// <summary>JSON may escape a lone surrogate, and a body may carry bytes that are not UTF-8; neither is text.</summary>
    [Theory]
    [MemberData(nameof(NotUnicode))]
    public async Task AStringThatIsNotUnicodeIs400(string method, string path, string body)
    {
        var tenant = await service.NewTenantAsync();
        var bytes = Encoding.UTF8.GetBytes(body);
        var marker = Encoding.UTF8.GetBytes("INVALID_UTF8");
        var at = bytes.AsSpan().IndexOf(marker);
        if (at >= 0) bytes = [.. bytes[..at], 0xC3, 0x28, 0xFF, 0xED, 0xA0, 0x80, .. bytes[(at + marker.Length)..]];
        var response = await SendAsync(tenant, method, path, bytes);
        Assert.Contains("Unicode", await RefusalAsync(response, path, HttpStatusCode.BadRequest));
    }

    /// <summary>A multipart body that ends before its closing boundary. The unlock form is a browser's: its refusal is a page.</summary>
    [Theory]
    [InlineData("/api/qrs-api/{qr}/image")]
    [InlineData("/{displayId}/unlock")]
    public async Task ATruncatedMultipartBodyIs400(string path)
    {
        var tenant = await service.NewTenantAsync();
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes("--zz\r\nContent-Disposition: form-data; name=\"password\"; filename=\"a.png\"\r\n\r\nsecret"));
        content.Headers.ContentType = MediaTypeHeaderValue.Parse("multipart/form-data; boundary=zz");
        var response = await SendAsync(tenant, "POST", path, content);
        if (path.StartsWith("/api", StringComparison.Ordinal))
        {
            await RefusalAsync(response, path, HttpStatusCode.BadRequest);
            return;
        }
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(QrFunctions.Scans.ScanPages.ContentSecurityPolicy, response.Headers.GetValues("Content-Security-Policy").Single());
    }

    public static TheoryData<string, string, string?, string> IdsStorageRefuses => new()
    {
        { "POST", "/api/qrs-api", "{" + Web + ""","templateId":"a/b"}""", "templateId" },
        { "POST", "/api/qrs-api", "{" + Web + ""","templateId":"a\\b"}""", "templateId" },
        { "POST", "/api/qrs-api", "{" + Web + ""","folderId":"a\u0001b"}""", "folderId" },
        { "POST", "/api/qrs-api", "{" + Web + ""","folderIds":["ok","a#b"]}""", "folderIds" },
        { "POST", "/api/analytics-api/overviews", """{"qrIds":["a\u0000b"]}""", "qrIds" },
        { "POST", "/api/analytics-api/detailed/all", """{"qrIds":["a?b"],"startTime":0,"endTime":1}""", "qrIds" },
        { "POST", "/api/teams-api/members/bulk", """{"name":"x","email":"x@example.com","teams":[{"teamId":"a\u0001b"}]}""", "teamId" },
        { "PUT", "/api/teams-api/{team}/members", """{"name":"x","email":"a/b@example.com"}""", "email" },
        { "PUT", "/api/teams-api/{team}/members", """{"name":"x","email":"a\u0085b@example.com"}""", "email" },
        { "GET", "/api/teams-api/a%01b", null, "id" },
        { "GET", "/api/qrs-api/a%7Fb", null, "id" },
        { "GET", "/api/qrs-api/" + new string('x', 1100), null, "id" },
        { "POST", "/api/invites/a%01b.token/accept", null, "token" },
        { "PATCH", "/v1/workspaces/a%09b", """{"name":"x"}""", "id" },
        { "DELETE", "/v1/api-keys/a%C2%85b", null, "id" },
        { "PUT", "/api/teams-api/{team}/members/a%01b@example.com/pause", null, "email" },
    };

    /// <summary>
    /// Table Storage refuses '/', '\', '#', '?', control characters and over-long strings as keys (the emulator answers a
    /// point read of such a key with a 500, which looked like an outage): an id that cannot exist is the caller's error.
    /// </summary>
    [Theory]
    [MemberData(nameof(IdsStorageRefuses))]
    public async Task AnIdTableStorageCannotHoldIsTheCallersError(string method, string path, string? body, string field)
    {
        var tenant = await service.NewTenantAsync();
        var response = await SendAsync(tenant, method, path, body is null ? null : Encoding.UTF8.GetBytes(body));
        var message = await RefusalAsync(response, path, HttpStatusCode.BadRequest, HttpStatusCode.NotFound);
        if (response.StatusCode == HttpStatusCode.BadRequest && !path.StartsWith("/api/teams-api/a", StringComparison.Ordinal))
            Assert.Contains(field, message);
        var list = await tenant.QrApi().GetAsync("/api/qrs-api/v2/teams").DataAsync();
        Assert.Equal(0, list.GetProperty("totalCount").GetInt32());
    }

    [Theory]
    [InlineData("a\tb")]
    [InlineData("a/b")]
    [InlineData("x")]
    public async Task ATeamHeaderThatCannotBeATeamIsForbidden(string team)
    {
        var tenant = await service.NewTenantAsync();
        var client = tenant.QrApi(teamId: "placeholder");
        client.DefaultRequestHeaders.Remove(AccessPolicy.TeamHeader);
        client.DefaultRequestHeaders.TryAddWithoutValidation(AccessPolicy.TeamHeader, team);
        await client.GetAsync("/api/qr-templates-api").ErrorAsync(HttpStatusCode.Forbidden);
    }

    [Theory]
    [InlineData("GET", "/api/nothing-here", HttpStatusCode.NotFound, null)]
    [InlineData("POST", "/api/qrs-api/x/y/z", HttpStatusCode.NotFound, null)]
    [InlineData("GET", "/v1/nothing-here", HttpStatusCode.NotFound, null)]
    [InlineData("DELETE", "/api/qr-templates-api", HttpStatusCode.MethodNotAllowed, "GET")]
    [InlineData("HEAD", "/api/qr-templates-api", HttpStatusCode.MethodNotAllowed, "GET")]
    [InlineData("GET", "/api/qrs-api", HttpStatusCode.MethodNotAllowed, "POST")]
    [InlineData("PUT", "/v1/usage", HttpStatusCode.MethodNotAllowed, "GET")]
    [InlineData("PATCH", "/v1/api-keys", HttpStatusCode.MethodNotAllowed, "GET, POST")]
    public async Task UnknownPathsAndWrongMethodsAnswerInTheSurfacesEnvelope(string method, string path, HttpStatusCode status, string? allow)
    {
        var response = await service.Anonymous().SendAsync(new HttpRequestMessage(new HttpMethod(method), path));
        Assert.Equal(status, response.StatusCode);
        if (allow is not null) Assert.Equal(allow, string.Join(", ", response.Content.Headers.Allow.Order()));
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        if (method == "HEAD") return;
        var body = await response.BodyAsync();
        if (path.StartsWith("/v1", StringComparison.Ordinal))
            Assert.Equal(status == HttpStatusCode.NotFound ? "not_found" : "method_not_allowed", body.GetProperty("error").GetProperty("code").GetString());
        else
            Assert.False(body.GetProperty("success").GetBoolean());
    }

    /// <summary>Sends raw bytes (or no body) as JSON; "{team}", "{qr}" and "{displayId}" become the tenant's team, a fresh code of it and its displayId.</summary>
    private static async Task<HttpResponseMessage> SendAsync(Tenant tenant, string method, string path, byte[]? body)
    {
        HttpContent? content = null;
        if (body is not null)
        {
            content = new ByteArrayContent(body);
            content.Headers.ContentType = MediaTypeHeaderValue.Parse("application/json");
        }
        return await SendAsync(tenant, method, path, content);
    }

    private static async Task<HttpResponseMessage> SendAsync(Tenant tenant, string method, string path, HttpContent? content)
    {
        if (path.Contains("{qr}") || path.Contains("{displayId}"))
        {
            var qr = await tenant.QrApi().PostJsonAsync("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://example.com/" }).DataAsync(HttpStatusCode.Created);
            path = path.Replace("{qr}", qr.GetProperty("id").GetString()).Replace("{displayId}", qr.GetProperty("displayId").GetString());
        }
        path = path.Replace("{team}", tenant.TeamId);
        var client = path.StartsWith("/v1", StringComparison.Ordinal) ? tenant.V1() : tenant.QrApi();
        return await client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path) { Content = content });
    }

    /// <summary>Asserts one of the statuses and the surface's error envelope (JSON, nosniff); returns the message.</summary>
    public static async Task<string> RefusalAsync(HttpResponseMessage response, string path, params HttpStatusCode[] expected)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(expected.Contains(response.StatusCode), $"expected {string.Join(" or ", expected.Select(s => (int)s))}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var body = JsonDocument.Parse(text).RootElement;
        if (path.StartsWith("/v1", StringComparison.Ordinal))
        {
            var error = body.GetProperty("error");
            Assert.False(string.IsNullOrEmpty(error.GetProperty("code").GetString()), text);
            return error.GetProperty("message").GetString()!;
        }
        Assert.False(body.GetProperty("success").GetBoolean(), text);
        return body.GetProperty("message").GetString()!;
    }
}
