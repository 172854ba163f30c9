using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Azure.Storage.Blobs.Models;
using QrFunctions.Templates;
using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Qrs;

/// <summary>
/// GET /api/qrs-api/{id}/image: print-ready PNG, SVG, PDF and EPS. Each is rasterized by an independent tool (librsvg, poppler,
/// Ghostscript; Debian packages .ci/run installs) and read back by a real QR decoder (jsQR), which must find the code's scan URL.
/// </summary>
public class QrPrintImageTests(TestService service) : IClassFixture<TestService>
{
    private async Task<(Tenant Tenant, string Id, string ScanUrl)> CodeAsync(string? templateId = null)
    {
        var tenant = await service.NewTenantAsync();
        var qr = await tenant.QrApi().PostJsonAsync("/api/qrs-api", templateId is null
            ? new { qrType = "WEB", name = "Poster", qrRedirectUrl = "https://a.example/spring-sale" }
            : (object)new { qrType = "WEB", name = "Poster", qrRedirectUrl = "https://a.example/spring-sale", templateId }).DataAsync(HttpStatusCode.Created);
        return (tenant, qr.GetProperty("id").GetString()!, qr.GetProperty("scanUrl").GetString()!);
    }

    private static async Task<string> RunAsync(string file, params string[] arguments)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments) psi.ArgumentList.Add(argument);
        Process process;
        try
        {
            process = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new InvalidOperationException($"{file} is not installed: apt-get install poppler-utils ghostscript librsvg2-bin (.ci/run does)");
        }
        using (process)
        {
            var output = await process.StandardOutput.ReadToEndAsync();
            var error = await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode == 0, $"{file} failed: {error}");
            return output;
        }
    }

    /// <summary>The image as pixels, made by a tool that is not ours: the PNG itself, or SVG/PDF/EPS rasterized at twice their size.</summary>
    private static async Task<string> RasterizeAsync(string format, byte[] bytes, string work)
    {
        var source = Path.Combine(work, "image." + format);
        await File.WriteAllBytesAsync(source, bytes);
        var png = Path.Combine(work, "raster.png");
        switch (format)
        {
            case "png": return source;
            case "svg": await RunAsync("rsvg-convert", "--zoom", "2", "--background-color", "white", "--output", png, source); break;
            case "pdf": await RunAsync("pdftoppm", "-png", "-r", "144", "-singlefile", source, Path.Combine(work, "raster")); break;
            case "eps": await RunAsync("gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-dEPSCrop", "-sDEVICE=png16m", "-r144", $"-sOutputFile={png}", source); break;
        }
        return png;
    }

    private static (int Width, int Height) PngSize(byte[] png) =>
        (System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)), System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)));

    [Theory]
    [InlineData("png", 600, "image/png")]
    [InlineData("svg", 500, "image/svg+xml")]
    [InlineData("pdf", 300, "application/pdf")]
    [InlineData("eps", 300, "application/postscript")]
    public async Task EachFormatDecodesBackToTheScanUrlAtExactlyItsSize(string format, int size, string contentType)
    {
        var (tenant, id, scanUrl) = await CodeAsync();
        var response = await tenant.QrApi().GetAsync($"/api/qrs-api/{id}/image?format={format}&size={size}");
        var bytes = await response.Content.ReadAsByteArrayAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, Encoding.UTF8.GetString(bytes));
        Assert.Equal(contentType, response.Content.Headers.ContentType!.MediaType);
        Assert.Equal("attachment", response.Content.Headers.ContentDisposition!.DispositionType);
        Assert.EndsWith($"-{size}.{format}", response.Content.Headers.ContentDisposition.FileNameStar ?? response.Content.Headers.ContentDisposition.FileName!.Trim('"'));
        Assert.Contains("sandbox", response.Headers.GetValues("Content-Security-Policy").Single());

        var work = Directory.CreateTempSubdirectory("print").FullName;
        try
        {
            var raster = await RasterizeAsync(format, bytes, work);
            Assert.Equal(scanUrl, await QrCrudTests.DecodeAsync(raster));
            // Exact: the PNG is `size` pixels; the vectors rasterized at 2× are 2 × `size`.
            Assert.Equal(format == "png" ? (size, size) : (2 * size, 2 * size), PngSize(await File.ReadAllBytesAsync(raster)));
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
        var text = Encoding.ASCII.GetString(bytes);
        switch (format)
        {
            case "svg": Assert.Contains($"width=\"{size}\" height=\"{size}\"", text); break;
            case "pdf":
                Assert.Contains($"/MediaBox [0 0 {size} {size}]", text);
                Assert.Contains(" re\r\n", text); // modules are rectangles, not a picture
                Assert.DoesNotContain("/Image", text);
                break;
            case "eps": Assert.Contains($"%%BoundingBox: 0 0 {size} {size}", text); break;
        }
    }

    [Fact]
    public async Task TheDesignsColoursAndTheLogoArePrintedToo()
    {
        var tenant = await service.NewTenantAsync();
        await service.Storage.TeamData.AddEntityAsync(new DesignTemplate
        {
            PartitionKey = tenant.TeamId, RowKey = DesignTemplate.RowPrefix + "navy", Name = "Navy",
            Design = """{"foregroundColor":"#1A237E","backgroundColor":"#FFF8E1","errorCorrection":"Q","pixelsPerModule":10,"quietZone":4}""",
        });
        var qr = await tenant.QrApi().PostJsonAsync("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://a.example/navy", templateId = "navy" })
            .DataAsync(HttpStatusCode.Created);
        var id = qr.GetProperty("id").GetString()!;
        var scanUrl = qr.GetProperty("scanUrl").GetString()!;

        var svg = await tenant.QrApi().GetStringAsync($"/api/qrs-api/{id}/image?format=svg&size=400");
        Assert.Contains("fill=\"#1A237E\"", svg);
        Assert.Contains("fill=\"#FFF8E1\"", svg);
        var pdf = Encoding.ASCII.GetString(await tenant.QrApi().GetByteArrayAsync($"/api/qrs-api/{id}/image?format=pdf"));
        Assert.Matches(@"0\.10196\d* 0\.13725\d* 0\.49411\d* rg", pdf); // #1A237E as PDF RGB (26, 35, 126 / 255)
        Assert.Contains("/MediaBox [0 0 288 288]", pdf); // the default: 4 inches
        var eps = await tenant.QrApi().GetStringAsync($"/api/qrs-api/{id}/image?format=eps");
        Assert.Matches(@"0\.10196\d* 0\.13725\d* 0\.49411\d* csquare", eps);

        // With a logo (error correction H): the PNG and the SVG still decode.
        var logo = new ByteArrayContent(await File.ReadAllBytesAsync(Path.Combine(RepoPaths.Root, "tests/QrFunctions.Tests/Qrs/logo.png")));
        logo.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        (await tenant.QrApi().PostAsync($"/api/qrs-api/{id}/image", logo)).EnsureSuccessStatusCode();
        var work = Directory.CreateTempSubdirectory("print").FullName;
        try
        {
            foreach (var format in new[] { "png", "svg" })
            {
                var bytes = await tenant.QrApi().GetByteArrayAsync($"/api/qrs-api/{id}/image?format={format}&size=800");
                if (format == "svg") Assert.Contains("<image", Encoding.UTF8.GetString(bytes));
                Assert.Equal(scanUrl, await QrCrudTests.DecodeAsync(await RasterizeAsync(format, bytes, work)));
            }
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact]
    public async Task TheMarginIsCountedInModules()
    {
        var (tenant, id, _) = await CodeAsync();
        string ViewBox(string svg) => System.Text.RegularExpressions.Regex.Match(svg, "viewBox=\"0 0 (\\d+) \\d+\"").Groups[1].Value;
        var none = int.Parse(ViewBox(await tenant.QrApi().GetStringAsync($"/api/qrs-api/{id}/image?format=svg&margin=0")));
        var wide = int.Parse(ViewBox(await tenant.QrApi().GetStringAsync($"/api/qrs-api/{id}/image?format=svg&margin=10")));
        var design = int.Parse(ViewBox(await tenant.QrApi().GetStringAsync($"/api/qrs-api/{id}/image?format=svg")));
        Assert.Equal(none + 20, wide);
        Assert.Equal(none + 8, design); // the default design's quiet zone: 4 modules
    }

    [Fact]
    public async Task ImagesAreKeptInBlobStorageByTheHashOfEveryInput()
    {
        var (tenant, id, _) = await CodeAsync();
        async Task<HashSet<string>> BlobsAsync()
        {
            var names = new HashSet<string>();
            await foreach (var blob in service.Storage.QrImages.GetBlobsAsync(BlobTraits.None, BlobStates.None, null, default)) names.Add(blob.Name);
            return names;
        }

        var before = await BlobsAsync();
        var first = await tenant.QrApi().GetAsync($"/api/qrs-api/{id}/image?format=pdf&size=500");
        var made = (await BlobsAsync()).Except(before).ToList();
        var again = await tenant.QrApi().GetAsync($"/api/qrs-api/{id}/image?format=pdf&size=500");
        var other = await tenant.QrApi().GetAsync($"/api/qrs-api/{id}/image?format=pdf&size=501");

        var blob = Assert.Single(made);
        Assert.Matches("^[0-9a-f]{64}\\.pdf$", blob);
        Assert.Equal(await first.Content.ReadAsByteArrayAsync(), (await service.Storage.QrImages.GetBlobClient(blob).DownloadContentAsync()).Value.Content.ToArray());
        Assert.Equal(await first.Content.ReadAsByteArrayAsync(), await again.Content.ReadAsByteArrayAsync());
        Assert.Equal(first.Headers.ETag, again.Headers.ETag);
        Assert.Equal(2, (await BlobsAsync()).Except(before).Count());
        Assert.NotEqual(first.Headers.ETag, other.Headers.ETag);

        // The ETag is the content hash: a client that has the image gets a 304.
        var conditional = new HttpRequestMessage(HttpMethod.Get, $"/api/qrs-api/{id}/image?format=pdf&size=500");
        conditional.Headers.IfNoneMatch.Add(first.Headers.ETag!);
        Assert.Equal(HttpStatusCode.NotModified, (await tenant.QrApi().SendAsync(conditional)).StatusCode);
    }

    [Theory]
    [InlineData("format=gif", "format")]
    [InlineData("format=png&size=4001", "size")]
    [InlineData("format=png&size=63", "size")]
    [InlineData("size=abc", "size")]
    [InlineData("size=1e3", "size")]
    [InlineData("size=-500", "size")]
    [InlineData("format=pdf&size=14401", "size")]
    [InlineData("format=eps&size=35", "size")]
    [InlineData("margin=17", "margin")]
    [InlineData("margin=-1", "margin")]
    [InlineData("margin=two", "margin")]
    [InlineData("size=500&size=600", "size")]
    public async Task BadParametersAre400NamingTheParameter(string query, string parameter)
    {
        var (tenant, id, _) = await CodeAsync();
        await tenant.QrApi().GetAsync($"/api/qrs-api/{id}/image?{query}").ErrorAsync(HttpStatusCode.BadRequest, parameter);
    }

    [Fact]
    public async Task AnUnknownOrDeletedCodeIs404()
    {
        var (tenant, id, _) = await CodeAsync();
        await tenant.QrApi().GetAsync("/api/qrs-api/nothing-here/image?format=svg").ErrorAsync(HttpStatusCode.NotFound);
        await tenant.QrApi().DeleteAsync($"/api/qrs-api/{id}");
        await tenant.QrApi().GetAsync($"/api/qrs-api/{id}/image?format=svg").ErrorAsync(HttpStatusCode.NotFound);
    }
}
