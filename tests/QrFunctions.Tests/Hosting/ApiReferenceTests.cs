using System.IO.Compression;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Hosting;

/// <summary>
/// /docs: the interactive reference (Scalar) of /openapi/v1.json, served with its scripts from our own origin only, under a CSP
/// that allows nothing else, so it loads with no CDN and a customer can try a call with their key.
/// </summary>
public class ApiReferenceTests(TestService service) : IClassFixture<TestService>
{
    private static Dictionary<string, string> Directives(string policy) => policy.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Select(d => d.Split(' ', 2)).ToDictionary(d => d[0], d => d.Length > 1 ? d[1] : "");

    [Fact]
    public async Task ThePageLoadsOnlyFromOurOriginUnderACspThatAllowsNothingElse()
    {
        var response = await service.Anonymous().GetAsync("/docs");
        var html = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType!.MediaType);
        var csp = Directives(response.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Equal("'none'", csp["default-src"]);
        Assert.Equal("'self'", csp["script-src"]); // no inline script, no eval, no other host
        Assert.Equal("'self'", csp["connect-src"]); // "try it" calls this API only
        Assert.Equal("'none'", csp["frame-ancestors"]);
        Assert.All(csp.Values, sources => Assert.DoesNotMatch(@"https?:|\*|//", sources));
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());

        // Every script is a file of ours or inert data; every link is ours.
        var scripts = Regex.Matches(html, "<script([^>]*)>([^<]*)</script>").ToList();
        Assert.NotEmpty(scripts);
        foreach (var script in scripts)
        {
            var attributes = script.Groups[1].Value;
            if (attributes.Contains("type=\"application/json\"")) continue;
            Assert.Matches("src=\"/docs/[a-z.]+\"", attributes);
            Assert.Equal("", script.Groups[2].Value.Trim());
        }
        Assert.DoesNotMatch("(src|href)=\"(?!/docs/)", html);
        Assert.DoesNotContain("http", html);

        var configuration = JsonDocument.Parse(Regex.Match(html, "<script type=\"application/json\" id=\"scalar-configuration\">([^<]*)</script>").Groups[1].Value).RootElement;
        Assert.Equal("/openapi/v1.json", configuration.GetProperty("sources")[0].GetProperty("url").GetString());
        Assert.False(configuration.GetProperty("withDefaultFonts").GetBoolean()); // Scalar's fonts come from its own host otherwise
        Assert.False(configuration.GetProperty("telemetry").GetBoolean());
    }

    [Fact]
    public async Task EveryFileThePageNeedsAnswersFromOurOriginWithItsContentType()
    {
        var client = service.Anonymous();
        var html = await client.GetStringAsync("/docs");
        var files = Regex.Matches(html, "(?:src|href)=\"(/docs/[^\"]+)\"").Select(m => m.Groups[1].Value).ToList();
        // Our start-up module imports the package's helper module.
        var start = await client.GetStringAsync("/docs/qrfunctions.js");
        files.AddRange(Regex.Matches(start, "from '\\./([^']+)'").Select(m => "/docs/" + m.Groups[1].Value));
        Assert.Equal(["/docs/favicon.svg", "/docs/qrfunctions.js", "/docs/scalar.aspnetcore.js", "/docs/scalar.js"], files.Order());

        foreach (var file in files)
        {
            var plain = await client.GetAsync(file);
            Assert.True(plain.StatusCode == HttpStatusCode.OK, file);
            Assert.Equal(file.EndsWith(".svg") ? "image/svg+xml" : "text/javascript", plain.Content.Headers.ContentType!.MediaType);
            var bytes = await plain.Content.ReadAsByteArrayAsync();
            Assert.NotEmpty(bytes);

            // Compressed as the package ships it, to browsers that accept gzip; revalidated by its ETag.
            var request = new HttpRequestMessage(HttpMethod.Get, file);
            request.Headers.AcceptEncoding.ParseAdd("gzip, br");
            var gzipped = await client.SendAsync(request);
            Assert.Equal("gzip", gzipped.Content.Headers.ContentEncoding.Single());
            using var unzip = new GZipStream(await gzipped.Content.ReadAsStreamAsync(), CompressionMode.Decompress);
            using var copy = new MemoryStream();
            await unzip.CopyToAsync(copy);
            Assert.Equal(bytes, copy.ToArray());
            var conditional = new HttpRequestMessage(HttpMethod.Get, file);
            conditional.Headers.IfNoneMatch.Add(plain.Headers.ETag!);
            Assert.Equal(HttpStatusCode.NotModified, (await client.SendAsync(conditional)).StatusCode);
        }
        // Scalar's bundle is the package's, not a page that fetches it from elsewhere.
        Assert.Contains("createApiReference", await client.GetStringAsync("/docs/scalar.js"));
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/docs/secrets.json")).StatusCode);
    }

    [Fact]
    public async Task TheDocumentDescribesTheCredentialsAsSecuritySchemesTheReferenceOffers()
    {
        var schemes = JsonDocument.Parse(await service.Anonymous().GetStringAsync("/openapi/v1.json")).RootElement.GetProperty("components").GetProperty("securitySchemes");
        Assert.Equal(("apiKey", "header", "x-request-client-id"),
            (schemes.GetProperty("clientId").GetProperty("type").GetString(), schemes.GetProperty("clientId").GetProperty("in").GetString(), schemes.GetProperty("clientId").GetProperty("name").GetString()));
        Assert.Equal(("apiKey", "header", "x-request-client-secret"),
            (schemes.GetProperty("clientSecret").GetProperty("type").GetString(), schemes.GetProperty("clientSecret").GetProperty("in").GetString(), schemes.GetProperty("clientSecret").GetProperty("name").GetString()));
        Assert.Equal(("http", "bearer"), (schemes.GetProperty("bearer").GetProperty("type").GetString(), schemes.GetProperty("bearer").GetProperty("scheme").GetString()));
        var html = await service.Anonymous().GetStringAsync("/docs");
        Assert.Contains("\"preferredSecurityScheme\":\"bearer\"", html);
    }
}
