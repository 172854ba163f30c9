using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Scans;

/// <summary>
/// Writes a minimal MaxMind DB file (format 2.0, IPv4, 24-bit records) mapping one /24 to a country and a
/// city, so the GeoLite2 path can be tested without shipping MaxMind's data.
/// </summary>
public static class TinyMmdb
{
    public static byte[] Build(IPAddress network, int prefix, string isoCode, string city)
    {
        var data = Map(("city", Map(("names", Map(("en", Str(city)))))), ("country", Map(("iso_code", Str(isoCode)))));
        const int nodeCount = 32;
        var bits = network.GetAddressBytes();
        var tree = new MemoryStream();
        for (var depth = 0; depth < nodeCount; depth++)
        {
            var bit = (bits[depth / 8] >> (7 - depth % 8)) & 1;
            // The path's own branch leads on (or to the data at the prefix length); the other branch has no data.
            var onPath = depth + 1 < prefix ? depth + 1 : nodeCount + 16; // data at offset 0 of the data section
            int left = bit == 0 ? onPath : nodeCount, right = bit == 1 ? onPath : nodeCount;
            if (depth >= prefix) left = right = nodeCount;
            Write24(tree, left);
            Write24(tree, right);
        }
        var metadata = Map(
            ("binary_format_major_version", UInt(5, 2)), ("binary_format_minor_version", UInt(5, 0)), ("build_epoch", Extended(9, BigEndian(1_700_000_000))),
            ("database_type", Str("GeoLite2-City")), ("description", Map(("en", Str("test")))), ("ip_version", UInt(5, 4)),
            ("languages", Extended(11, [], 1, Str("en"))), ("node_count", UInt(6, nodeCount)), ("record_size", UInt(5, 24)));
        var file = new MemoryStream();
        file.Write(tree.ToArray());
        file.Write(new byte[16]);
        file.Write(data);
        file.Write([0xAB, 0xCD, 0xEF, .. Encoding.ASCII.GetBytes("MaxMind.com")]);
        file.Write(metadata);
        return file.ToArray();
    }

    private static void Write24(Stream s, int v) { s.WriteByte((byte)(v >> 16)); s.WriteByte((byte)(v >> 8)); s.WriteByte((byte)v); }

    private static byte[] Control(int type, int size) => [(byte)((type << 5) | size)];
    private static byte[] Str(string s) { var b = Encoding.UTF8.GetBytes(s); return [.. Control(2, b.Length), .. b]; }
    private static byte[] BigEndian(long v) { var bytes = new List<byte>(); for (; v > 0; v >>= 8) bytes.Insert(0, (byte)v); return [.. bytes]; }
    private static byte[] UInt(int type, long v) { var b = BigEndian(v); return [.. Control(type, b.Length), .. b]; }
    private static byte[] Extended(int type, byte[] payload, int? size = null, params byte[][] items) =>
        [(byte)(size ?? payload.Length), (byte)(type - 7), .. payload, .. items.SelectMany(i => i)];
    private static byte[] Map(params (string Key, byte[] Value)[] pairs) =>
        [.. Control(7, pairs.Length), .. pairs.SelectMany(p => Str(p.Key).Concat(p.Value))];
}

public class GeoLite2TestService : ScanTestService
{
    public string DatabasePath { get; } = Path.Combine(Path.GetTempPath(), $"geo-{Guid.NewGuid():N}.mmdb");

    protected override IEnumerable<string> Settings => [.. base.Settings, $"--QrFunctions:GeoLite2Path={DatabasePath}"];

    public override Task InitializeAsync()
    {
        File.WriteAllBytes(DatabasePath, TinyMmdb.Build(IPAddress.Parse("203.0.113.0"), 24, "DE", "Berlin"));
        return base.InitializeAsync();
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        File.Delete(DatabasePath);
    }
}

public class ScansAreLocatedWithAGeoLite2Database(GeoLite2TestService service) : IClassFixture<GeoLite2TestService>
{
    [Fact]
    public async Task CountryAndCityComeFromTheDatabaseWhenNoEdgeHeaderSaysSo()
    {
        var tenant = await service.NewTenantAsync();
        var (displayId, qrId) = await service.PublishAsync(tenant, "WEB", new JsonObject { ["qrRedirectUrl"] = "https://example.com/" });
        foreach (var ip in new[] { "203.0.113.45", "198.51.100.7" })
        {
            var request = new HttpRequestMessage(HttpMethod.Get, "/" + displayId);
            request.Headers.TryAddWithoutValidation("User-Agent", FakeScanClients.IPhone);
            request.Headers.TryAddWithoutValidation("X-Forwarded-For", ip);
            Assert.Equal(HttpStatusCode.Found, (await service.Anonymous().SendAsync(request)).StatusCode);
        }
        await service.AggregateAsync();
        var detailed = await tenant.QrApi().GetFromJsonAsync<JsonObject>($"/api/analytics-api/detailed/{qrId}");
        var scans = detailed!["data"]!.AsArray().Select(s => s!.AsObject()).ToList();
        var located = scans.Single(s => (string)s["ipAddress"]! == "203.0.113.0");
        Assert.Equal(("DE", "Berlin"), ((string)located["country"]!, (string)located["city"]!));
        var elsewhere = scans.Single(s => (string)s["ipAddress"]! == "198.51.100.0");
        Assert.Equal(("", ""), ((string?)elsewhere["country"] ?? "", (string?)elsewhere["city"] ?? ""));
    }
}
