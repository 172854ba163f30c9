using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure;
using Azure.Storage.Blobs.Models;
using QRCoder;
using QrFunctions.Storage;

namespace QrFunctions.Rendering;

/// <summary>What an image depends on: the encoded URL, the design, and the uploaded logo (if any).</summary>
public sealed record QrImageInput(string ScanUrl, string Design, string? LogoBlob);

/// <summary>
/// A print-ready image: its format, its edge length including the margin (PNG: pixels; SVG: px; PDF and EPS: points, 1/72 in),
/// and its margin (quiet zone) in modules: the design's (4, or 0 without a quiet zone) when not given.
/// </summary>
public sealed record PrintSpec(string Format, int Size, int? Margin)
{
    public static readonly IReadOnlyList<string> Formats = ["png", "svg", "pdf", "eps"];
    public const int MaxPngSize = 4000, MinPngSize = 64, MaxVectorSize = 14400, MinVectorSize = 36, MaxMargin = 16;

    public string ContentType => Format switch
    {
        "png" => "image/png", "svg" => "image/svg+xml", "pdf" => "application/pdf", _ => "application/postscript",
    };
}

/// <summary>
/// Renders QR images with QRCoder (PNG and SVG) and stores them in the public qr-images container under
/// a name that is the hash of their inputs: a code is re-rendered only when its URL, design or logo
/// changes, identical codes share one blob, and the blob can be cached forever (immutable).
/// Logos: QRCoder embeds them in the SVG; raster logos are composed into the PNG with SkiaSharp.
/// </summary>
public sealed class QrImages(StorageAccount storage, IConfiguration configuration)
{
    private readonly string _imageBaseUrl = configuration["QrFunctions:ImageBaseUrl"] ?? "";

    public static string HashOf(QrImageInput input) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{input.ScanUrl}\n{input.Design}\n{input.LogoBlob}")));

    public string UrlOf(string hash, string extension = "png") =>
        _imageBaseUrl.Length > 0 ? $"{_imageBaseUrl.TrimEnd('/')}/{hash}.{extension}" : storage.QrImages.GetBlobClient($"{hash}.{extension}").Uri.ToString();

    /// <summary>Renders and uploads both formats (an existing blob of the same name is the same image and is kept); returns the hash.</summary>
    public async Task<string> EnsureAsync(QrImageInput input, CancellationToken ct)
    {
        var hash = HashOf(input);

        var design = Design.Parse(input.Design);
        byte[]? logo = null;
        if (input.LogoBlob is not null)
            logo = (await storage.Uploads.GetBlobClient(input.LogoBlob).DownloadContentAsync(ct)).Value.Content.ToArray();
        using var generator = new QRCodeGenerator();
        // A logo hides modules: the highest error correction keeps the code readable.
        using var data = generator.CreateQrCode(input.ScanUrl, logo is null ? design.Ecc : QRCodeGenerator.ECCLevel.H);
        var pngBytes = new PngByteQRCode(data).GetGraphic(design.PixelsPerModule, design.Foreground, design.Background, design.QuietZone);
        if (logo is not null && !input.LogoBlob!.EndsWith(".svg", StringComparison.Ordinal)) pngBytes = WithLogo(pngBytes, logo);
        var svg = new SvgQRCode(data).GetGraphic(design.PixelsPerModule, design.ForegroundHex, design.BackgroundHex, design.QuietZone,
            SvgQRCode.SizingMode.ViewBoxAttribute, logo is null ? null
                : input.LogoBlob!.EndsWith(".svg", StringComparison.Ordinal) ? new SvgQRCode.SvgLogo(Encoding.UTF8.GetString(logo), 15, true, true)
                : new SvgQRCode.SvgLogo(logo, 15, true));

        await Task.WhenAll(
            UploadAsync(hash + ".svg", Encoding.UTF8.GetBytes(svg), "image/svg+xml", ct),
            UploadAsync(hash + ".png", pngBytes, "image/png", ct));
        return hash;
    }

    /// <summary>
    /// A print-ready image of <paramref name="input"/>, from the qr-images container when it was made before (the name is the
    /// hash of every input, the print spec included), otherwise rendered and kept there. PNG: whole pixels per module (crisp
    /// edges), centred on a background of exactly Size pixels; SVG, PDF and EPS are vectors of exactly Size. The design's colours
    /// and error correction apply to all (H with a logo); the logo is drawn into PNG (raster logos) and SVG (any), as in
    /// <see cref="EnsureAsync"/>; QRCoder's PDF and PostScript renderers draw no logos.
    /// </summary>
    public async Task<(byte[] Bytes, string Hash)> PrintAsync(QrImageInput input, PrintSpec spec, CancellationToken ct)
    {
        spec = spec with { Margin = spec.Margin ?? (Design.Parse(input.Design).QuietZone ? 4 : 0) };
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(
            $"{input.ScanUrl}\n{input.Design}\n{input.LogoBlob}\nprint\n{spec.Format}\n{spec.Size}\n{spec.Margin}")));
        var blob = storage.QrImages.GetBlobClient($"{hash}.{spec.Format}");
        try
        {
            return ((await blob.DownloadContentAsync(ct)).Value.Content.ToArray(), hash);
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
        }
        var bytes = await RenderPrintAsync(input, spec, ct);
        await UploadAsync(blob.Name, bytes, spec.ContentType, ct);
        return (bytes, hash);
    }

    private async Task<byte[]> RenderPrintAsync(QrImageInput input, PrintSpec spec, CancellationToken ct)
    {
        var design = Design.Parse(input.Design);
        byte[]? logo = null;
        if (input.LogoBlob is not null)
            logo = (await storage.Uploads.GetBlobClient(input.LogoBlob).DownloadContentAsync(ct)).Value.Content.ToArray();
        var svgLogo = input.LogoBlob?.EndsWith(".svg", StringComparison.Ordinal) == true;
        using var generator = new QRCodeGenerator();
        using var data = generator.CreateQrCode(input.ScanUrl, logo is null ? design.Ecc : QRCodeGenerator.ECCLevel.H);
        WithMargin(data, spec.Margin!.Value);
        var modules = data.ModuleMatrix.Count;
        var viewBox = new System.Drawing.Size(spec.Size, spec.Size);
        switch (spec.Format)
        {
            case "png":
                var perModule = spec.Size / modules;
                if (perModule < 1) throw Api.ApiProblem.BadRequest($"size must be at least {modules} pixels for this code with margin {spec.Margin} (a pixel per module).");
                var png = new PngByteQRCode(data).GetGraphic(perModule, design.Foreground, design.Background, true);
                var background = new SkiaSharp.SKColor(design.Background[0], design.Background[1], design.Background[2]);
                if (logo is not null && !svgLogo) png = WithLogo(png, logo, background);
                return Centred(png, spec.Size, background);
            case "svg":
                return Encoding.UTF8.GetBytes(new SvgQRCode(data).GetGraphic(viewBox, design.ForegroundHex, design.BackgroundHex, true,
                    SvgQRCode.SizingMode.WidthHeightAttribute, logo is null ? null : svgLogo ? new SvgQRCode.SvgLogo(Encoding.UTF8.GetString(logo), 15, true, true) : new SvgQRCode.SvgLogo(logo, 15, true)));
            case "pdf":
                // MediaBox = modules × pixelsPerModule × 72 / dpi points: Size points exactly, drawn as vector rectangles.
                return new PdfByteQRCode(data).GetGraphic(spec.Size, design.ForegroundHex, design.BackgroundHex, dpi: 72 * modules);
            default:
                return Encoding.ASCII.GetBytes(new PostscriptQRCode(data).GetGraphic(viewBox, design.ForegroundHex, design.BackgroundHex, true, epsFormat: true));
        }
    }

    /// <summary>QRCoder's quiet zone is 4 modules or none; this makes it <paramref name="margin"/> modules (renderers then draw the whole matrix).</summary>
    private static void WithMargin(QRCodeData data, int margin)
    {
        const int builtIn = 4;
        var inner = data.ModuleMatrix.Count - 2 * builtIn;
        var matrix = new List<System.Collections.BitArray>(inner + 2 * margin);
        for (var y = 0; y < inner + 2 * margin; y++)
        {
            var row = new System.Collections.BitArray(inner + 2 * margin);
            if (y >= margin && y < margin + inner)
                for (var x = 0; x < inner; x++) row[margin + x] = data.ModuleMatrix[builtIn + y - margin][builtIn + x];
            matrix.Add(row);
        }
        data.ModuleMatrix = matrix;
    }

    /// <summary>The PNG on a canvas of exactly <paramref name="size"/> pixels filled with its own background colour.</summary>
    private static byte[] Centred(byte[] png, int size, SkiaSharp.SKColor background)
    {
        using var code = SkiaSharp.SKBitmap.Decode(png);
        if (code.Width == size) return png;
        using var surface = SkiaSharp.SKSurface.Create(new SkiaSharp.SKImageInfo(size, size));
        surface.Canvas.Clear(background);
        using (var image = SkiaSharp.SKImage.FromBitmap(code)) surface.Canvas.DrawImage(image, (size - code.Width) / 2, (size - code.Height) / 2, SkiaSharp.SKSamplingOptions.Default);
        using var snapshot = surface.Snapshot();
        using var encoded = snapshot.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100);
        return encoded.ToArray();
    }

    /// <summary>
    /// Draws a raster logo (PNG/JPEG) into the middle of the PNG on a background-coloured pad, covering at most
    /// 20% of the width — within what error correction H recovers. QRCoder draws logos only into SVG on Linux,
    /// so the PNG is composed with SkiaSharp. SVG logos appear in the SVG only.
    /// </summary>
    private static byte[] WithLogo(byte[] png, byte[] logo, SkiaSharp.SKColor? padColor = null)
    {
        using var code = SkiaSharp.SKBitmap.Decode(png);
        using var mark = SkiaSharp.SKBitmap.Decode(logo);
        if (code is null || mark is null) return png;
        using var surface = SkiaSharp.SKSurface.Create(new SkiaSharp.SKImageInfo(code.Width, code.Height));
        var canvas = surface.Canvas;
        using (var background = SkiaSharp.SKImage.FromBitmap(code)) canvas.DrawImage(background, 0, 0, SkiaSharp.SKSamplingOptions.Default);
        var box = code.Width * 0.2f;
        var scale = Math.Min(box / mark.Width, box / mark.Height);
        float w = mark.Width * scale, h = mark.Height * scale, x = (code.Width - w) / 2, y = (code.Height - h) / 2;
        using var pad = new SkiaSharp.SKPaint { Color = padColor ?? code.GetPixel(0, 0) };
        canvas.DrawRect(x - 4, y - 4, w + 8, h + 8, pad);
        using var image = SkiaSharp.SKImage.FromBitmap(mark);
        canvas.DrawImage(image, new SkiaSharp.SKRect(x, y, x + w, y + h), new SkiaSharp.SKSamplingOptions(SkiaSharp.SKFilterMode.Linear));
        using var snapshot = surface.Snapshot();
        using var encoded = snapshot.Encode(SkiaSharp.SKEncodedImageFormat.Png, 100);
        return encoded.ToArray();
    }

    private async Task UploadAsync(string name, byte[] content, string contentType, CancellationToken ct)
    {
        try
        {
            await storage.QrImages.GetBlobClient(name).UploadAsync(new BinaryData(content), new BlobUploadOptions
            {
                HttpHeaders = new BlobHttpHeaders { ContentType = contentType, CacheControl = "public, max-age=31536000, immutable" },
                Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All },
            }, ct);
        }
        catch (RequestFailedException ex) when (ex.Status is 409 or 412)
        {
            // Rendered concurrently by another request: same inputs, same bytes.
        }
    }

    private sealed record Design(QRCodeGenerator.ECCLevel Ecc, int PixelsPerModule, bool QuietZone, string ForegroundHex, string BackgroundHex)
    {
        public byte[] Foreground => Rgba(ForegroundHex);
        public byte[] Background => Rgba(BackgroundHex);

        public static Design Parse(string json)
        {
            var d = JsonNode.Parse(json) as JsonObject ?? [];
            var ecc = (d["errorCorrection"]?.GetValue<string>() ?? "M") switch
            {
                "L" => QRCodeGenerator.ECCLevel.L, "Q" => QRCodeGenerator.ECCLevel.Q, "H" => QRCodeGenerator.ECCLevel.H, _ => QRCodeGenerator.ECCLevel.M,
            };
            var ppm = Math.Clamp(d["pixelsPerModule"]?.GetValue<int>() ?? 10, 2, 40);
            var quiet = (d["quietZone"]?.GetValue<int>() ?? 4) > 0;
            return new Design(ecc, ppm, quiet, Color(d, "foregroundColor", "#000000"), Color(d, "backgroundColor", "#FFFFFF"));
        }

        private static string Color(JsonObject d, string field, string fallback) =>
            d[field]?.GetValue<string>() is { Length: 7 } c && c[0] == '#' && c[1..].All(Uri.IsHexDigit) ? c : fallback;

        private static byte[] Rgba(string hex) =>
            [Convert.ToByte(hex[1..3], 16), Convert.ToByte(hex[3..5], 16), Convert.ToByte(hex[5..7], 16), 255];
    }

    public static string DesignJson(JsonObject design) => design.ToJsonString(new JsonSerializerOptions { WriteIndented = false });
}
