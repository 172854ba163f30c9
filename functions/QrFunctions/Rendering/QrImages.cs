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
    /// Draws a raster logo (PNG/JPEG) into the middle of the PNG on a background-coloured pad, covering at most
    /// 20% of the width — within what error correction H recovers. QRCoder draws logos only into SVG on Linux,
    /// so the PNG is composed with SkiaSharp. SVG logos appear in the SVG only.
    /// </summary>
    private static byte[] WithLogo(byte[] png, byte[] logo)
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
        using var pad = new SkiaSharp.SKPaint { Color = code.GetPixel(0, 0) };
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
