using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Azure.Functions.Worker;
using QrFunctions.Api;
using QrFunctions.Auth;

namespace QrFunctions.Hosting;

/// <summary>
/// GET /docs: an interactive reference of /openapi/v1.json (Scalar), where a new customer can try a call with their key from the
/// browser. Under the Functions host there is no endpoint routing of ours to map Scalar.AspNetCore's own endpoints onto, so the
/// page and the scripts the package embeds (gzip-compressed, under "ScalarStaticAssets.") are served by these two functions.
/// Everything comes from this origin: the page carries its configuration as data and starts Scalar from a module of ours, so
/// its CSP allows scripts from 'self' only, no inline script, and no other host for anything.
/// </summary>
[Public, Tags("Reference")]
public sealed class ApiReference
{
    public const string Route = "docs";

    /// <summary>Scalar injects its styles at run time, hence 'unsafe-inline' for styles only; scripts, requests, fonts and images stay on this origin.</summary>
    public const string PageSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
        + "connect-src 'self'; worker-src 'self' blob:; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    [Function("Docs"), EndpointSummary("Interactive API reference of this document (Scalar), to try calls with your key")]
    public IResult Page([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = Route)] HttpRequest req)
    {
        var headers = req.HttpContext.Response.Headers;
        headers.ContentSecurityPolicy = PageSecurityPolicy;
        headers.CacheControl = "no-cache";
        headers["Referrer-Policy"] = "no-referrer";
        return Results.Content(Html, "text/html; charset=utf-8");
    }

    [Function("DocsAsset"), EndpointSummary("A script or the icon of the reference page")]
    public IResult Asset([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = Route + "/{asset}")] HttpRequest req, string asset)
    {
        var file = Assets.GetValueOrDefault(asset) ?? throw ApiProblem.NotFound($"No file {asset} in the API reference.");
        var context = req.HttpContext;
        var headers = context.Response.Headers;
        headers.ContentSecurityPolicy = "default-src 'none'; sandbox";
        headers.CacheControl = "no-cache"; // revalidated by ETag: the files change with the package
        headers.ETag = file.ETag;
        headers.Vary = "Accept-Encoding";
        if (req.Headers.IfNoneMatch.ToString() == file.ETag) return Results.StatusCode(StatusCodes.Status304NotModified);
        if (req.Headers.AcceptEncoding.ToString().Contains("gzip", StringComparison.OrdinalIgnoreCase))
        {
            headers.ContentEncoding = "gzip";
            return Results.Bytes(file.Gzip, file.ContentType);
        }
        return Results.Bytes(file.Plain.Value, file.ContentType);
    }

    private sealed record AssetFile(string ContentType, byte[] Gzip, Lazy<byte[]> Plain, string ETag)
    {
        public static AssetFile Compressed(string contentType, byte[] gzip) =>
            new(contentType, gzip, new(() => Decompress(gzip)), $"\"{Convert.ToHexStringLower(SHA256.HashData(gzip))[..32]}\"");

        private static byte[] Decompress(byte[] gzip)
        {
            using var input = new GZipStream(new MemoryStream(gzip), CompressionMode.Decompress);
            using var output = new MemoryStream();
            input.CopyTo(output);
            return output.ToArray();
        }
    }

    /// <summary>Scalar's standalone bundle, its ASP.NET Core helper module and icon (from the package), and our start-up module.</summary>
    private static readonly Dictionary<string, AssetFile> Assets = LoadAssets();

    private static Dictionary<string, AssetFile> LoadAssets()
    {
        var package = typeof(Scalar.AspNetCore.ScalarOptions).Assembly;
        byte[] Embedded(string name)
        {
            using var stream = package.GetManifestResourceStream("ScalarStaticAssets." + name)
                ?? throw new InvalidOperationException($"Scalar.AspNetCore no longer embeds {name}: check how its version serves its assets.");
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            return copy.ToArray();
        }
        using var ours = new MemoryStream();
        using (var gzip = new GZipStream(ours, CompressionLevel.Optimal, leaveOpen: true)) gzip.Write(System.Text.Encoding.UTF8.GetBytes(StartModule));
        const string script = "text/javascript; charset=utf-8";
        return new(StringComparer.Ordinal)
        {
            ["scalar.js"] = AssetFile.Compressed(script, Embedded("scalar.js")),
            ["scalar.aspnetcore.js"] = AssetFile.Compressed(script, Embedded("scalar.aspnetcore.js")),
            ["favicon.svg"] = AssetFile.Compressed("image/svg+xml", Embedded("favicon.svg")),
            ["qrfunctions.js"] = AssetFile.Compressed(script, ours.ToArray()),
        };
    }

    /// <summary>Starts Scalar with the package's helper and the configuration the page carries as data (no inline script to allow).</summary>
    private const string StartModule = """
        import { initialize } from './scalar.aspnetcore.js'

        const configuration = JSON.parse(document.getElementById('scalar-configuration').textContent)
        initialize(window.location.pathname, true, configuration)
        """;

    /// <summary>
    /// Scalar's settings: our document; no fonts, telemetry, proxy, agent or MCP from Scalar's hosts (the CSP would block them
    /// anyway); the bearer form of the key offered first, and nothing about it kept in the browser.
    /// </summary>
    private static readonly JsonObject Configuration = new()
    {
        ["sources"] = new JsonArray(new JsonObject { ["url"] = "/" + OpenApiDocumentFunction.Route, ["title"] = "QrFunctions API" }),
        ["withDefaultFonts"] = false,
        ["telemetry"] = false,
        ["persistAuth"] = false,
        ["showDeveloperTools"] = "never",
        ["agent"] = new JsonObject { ["disabled"] = true },
        ["mcp"] = new JsonObject { ["disabled"] = true },
        ["authentication"] = new JsonObject { ["preferredSecurityScheme"] = "bearer" },
        ["defaultHttpClient"] = new JsonObject { ["targetKey"] = "shell", ["clientKey"] = "curl" },
        ["_integration"] = "dotnet",
    };

    // The JSON sits in a data block: System.Text.Json escapes '<', so it cannot close the element.
    private static readonly string Html = $$"""
        <!doctype html>
        <html lang="en">
        <head>
          <meta charset="utf-8">
          <meta name="viewport" content="width=device-width, initial-scale=1">
          <title>QrFunctions API reference</title>
          <link rel="icon" type="image/svg+xml" href="/{{Route}}/favicon.svg">
        </head>
        <body>
          <div id="app"></div>
          <script type="application/json" id="scalar-configuration">{{Configuration.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.Default })}}</script>
          <script type="module" src="/{{Route}}/scalar.js"></script>
          <script type="module" src="/{{Route}}/qrfunctions.js"></script>
        </body>
        </html>
        """;
}
