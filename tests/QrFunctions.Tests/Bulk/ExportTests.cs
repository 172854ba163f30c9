using System.Globalization;
using System.Net;
using System.Text.Json;
using CsvHelper;
using QrFunctions.Scans;
using QrFunctions.Storage;
using QrFunctions.Tests.Infrastructure;
using QrFunctions.Tests.Scans;
using Xunit;

namespace QrFunctions.Tests.Bulk;

/// <summary>GET /api/qrs-api/export.csv and /api/analytics-api/scans.csv: content, filters, formula escaping, and that they stream.</summary>
public class ExportTests(ScanTestService service) : IClassFixture<ScanTestService>
{
    private const long Day = 86_400_000L;

    private static List<Dictionary<string, string>> Rows(string csv)
    {
        using var reader = new CsvReader(new StringReader(csv), CultureInfo.InvariantCulture);
        return reader.GetRecords<dynamic>().Select(r => ((IDictionary<string, object>)r).ToDictionary(kv => kv.Key, kv => (string)kv.Value)).ToList();
    }

    private async Task<List<(string Id, string DisplayId)>> BulkAsync(Tenant tenant, IEnumerable<object> codes)
    {
        var batchId = (await tenant.QrApi().PostJsonAsync("/api/qrs-api/bulk", new { codes }).DataAsync(HttpStatusCode.Accepted)).GetProperty("batchId").GetString()!;
        await service.DrainQueueAsync("CreateBulkCodes", maxRounds: 1000);
        var status = await tenant.QrApi().GetAsync($"/api/qrs-api/bulk/{batchId}").DataAsync();
        Assert.Equal("finished", status.GetProperty("status").GetString());
        return status.GetProperty("codes").EnumerateArray().Select(c => (c.GetProperty("id").GetString()!, c.GetProperty("displayId").GetString()!)).ToList();
    }

    [Fact]
    public async Task TheCodesExportFollowsTheListsSearchAndOrderAndEscapesFormulas()
    {
        var tenant = await service.NewTenantAsync();
        foreach (var name in new[] { "=HYPERLINK(\"https://evil.example\")", "Harbor, north pier", "+harbor tour", "@SUM(A1)", "-harbor" })
        {
            await tenant.QrApi().PostJsonAsync("/api/qrs-api", new { name, qrType = "WEB", qrRedirectUrl = "https://example.com/", tags = new[] { "a", "b" } })
                .DataAsync(HttpStatusCode.Created);
            await Task.Delay(3);
        }

        var response = await tenant.QrApi().GetAsync("/api/qrs-api/export.csv?sortBy=name&sortOrder=asc");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/csv", response.Content.Headers.ContentType!.MediaType);
        Assert.Contains("attachment", response.Content.Headers.ContentDisposition!.ToString());
        var text = await response.Content.ReadAsStringAsync();
        var rows = Rows(text);
        Assert.Equal(["'+harbor tour", "'-harbor", "'=HYPERLINK(\"https://evil.example\")", "'@SUM(A1)", "Harbor, north pier"], rows.Select(r => r["name"]));
        Assert.StartsWith("id,displayId,name,qrType,qrRedirectUrl,scanUrl,qrImageUrl,tags,", text);
        Assert.All(rows, r => Assert.Equal("a|b", r["tags"]));
        Assert.All(rows, r => Assert.StartsWith("qr_", r["id"]));
        Assert.Equal("WEB", rows[0]["qrType"]);
        Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(rows[0]["settings:json"]).RootElement.ValueKind);

        var harbor = Rows(await tenant.QrApi().GetStringAsync("/api/qrs-api/export.csv?search=harbor&sortBy=createdAt&sortOrder=desc"));
        Assert.Equal(["'-harbor", "'+harbor tour", "Harbor, north pier"], harbor.Select(r => r["name"]));

        var other = await service.NewTenantAsync();
        Assert.Empty(Rows(await other.QrApi().GetStringAsync("/api/qrs-api/export.csv")));
        await tenant.QrApi().GetAsync("/api/qrs-api/export.csv?sortBy=evil").ErrorAsync(HttpStatusCode.BadRequest, "sortBy");
    }

    /// <summary>
    /// The export answers while it still reads: after the first line arrives (the client reads no further, so the server blocks
    /// once the transport's buffer is full), the code listed last is renamed, and the export shows the new name. An export that
    /// read every code before answering would show the old one.
    /// </summary>
    [Fact]
    public async Task ALargeExportIsWrittenWhileItsCodesAreStillBeingRead()
    {
        var tenant = await service.NewTenantAsync();
        var padding = new string('p', 1500);
        var codes = await BulkAsync(tenant, Enumerable.Range(1, 300).Select(i => new
        {
            name = $"Long {i:D3} " + new string('n', 200), qrType = "WEB", qrRedirectUrl = $"https://example.com/{padding}/{i}",
        }));
        var last = (await tenant.QrApi().GetAsync("/api/qrs-api/v2/teams?sortBy=createdAt&sortOrder=desc&limit=1").DataAsync())
            .GetProperty("qrs")[0].GetProperty("id").GetString()!;

        using var response = await tenant.QrApi().SendAsync(new HttpRequestMessage(HttpMethod.Get, "/api/qrs-api/export.csv?sortBy=createdAt&sortOrder=asc"),
            HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var header = await reader.ReadLineAsync();
        await tenant.QrApi().PatchJsonAsync($"/api/qrs-api/{last}/title", new { title = "Renamed while exporting" }).DataAsync();
        var rows = Rows(header + "\n" + await reader.ReadToEndAsync());

        Assert.Equal(300, rows.Count);
        Assert.Equal(codes.Select(c => c.Id).Order(), rows.Select(r => r["id"]).Order());
        Assert.Equal((last, "Renamed while exporting"), (rows[^1]["id"], rows[^1]["name"]));
    }

    private async Task ScannedAsync(Tenant tenant, string qrId, params long[] times)
    {
        var batch = new ScanBatch
        {
            BatchId = Guid.NewGuid().ToString("N"),
            Events = times.Select(t => new ScanEvent
            {
                QrId = qrId, TeamId = tenant.TeamId, OrgId = tenant.OrgId, ScanTime = t, Device = "mobile", Os = "iOS", Browser = "Mobile Safari",
                Country = "NL", City = "=cmd|' /C calc'!A0", IpAddress = "203.0.113.0", Referrer = "https://news.example/", Language = "nl",
                VisitorHash = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()),
            }).ToList(),
        };
        await service.NewAggregator().AggregateAsync(JsonSerializer.Serialize(batch, ScanBatch.Json), CancellationToken.None);
    }

    [Fact]
    public async Task ScansOfACodeOrOfABatchAreExportedNewestFirstInsideTheRange()
    {
        var tenant = await service.NewTenantAsync();
        var batchId = (await tenant.QrApi().PostJsonAsync("/api/qrs-api/bulk", new { codes = new[]
        {
            new { qrType = "WEB", qrRedirectUrl = "https://example.com/a" }, new { qrType = "WEB", qrRedirectUrl = "https://example.com/b" },
        } }).DataAsync(HttpStatusCode.Accepted)).GetProperty("batchId").GetString()!;
        await service.DrainQueueAsync("CreateBulkCodes");
        var codes = (await tenant.QrApi().GetAsync($"/api/qrs-api/bulk/{batchId}").DataAsync()).GetProperty("codes").EnumerateArray()
            .Select(c => (Id: c.GetProperty("id").GetString()!, DisplayId: c.GetProperty("displayId").GetString()!)).ToList();
        var now = Clock.NowMs();
        await ScannedAsync(tenant, codes[0].Id, now - 40 * Day, now - 3 * Day, now - 2000);
        await ScannedAsync(tenant, codes[1].Id, now - 1000, now - 5 * Day);

        var one = Rows(await tenant.QrApi().GetStringAsync($"/api/analytics-api/scans.csv?qrId={codes[0].Id}&from={now - 10 * Day}&to={now}"));
        Assert.Equal([now - 2000, now - 3 * Day], one.Select(r => long.Parse(r["scanTime"], CultureInfo.InvariantCulture)));
        Assert.Equal(codes[0].DisplayId, one[0]["displayId"]);
        Assert.Equal(("mobile", "iOS", "NL", "nl", "false"), (one[0]["device"], one[0]["os"], one[0]["country"], one[0]["language"], one[0]["isBot"]));
        Assert.Equal("'=cmd|' /C calc'!A0", one[0]["city"]);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(now - 2000).UtcDateTime, DateTime.Parse(one[0]["scanTimeUtc"], CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal));

        var all = Rows(await tenant.QrApi().GetStringAsync($"/api/analytics-api/scans.csv?batchId={batchId}"));
        Assert.Equal([(codes[0].Id, now - 2000), (codes[0].Id, now - 3 * Day), (codes[0].Id, now - 40 * Day), (codes[1].Id, now - 1000), (codes[1].Id, now - 5 * Day)],
            all.Select(r => (r["qrId"], long.Parse(r["scanTime"], CultureInfo.InvariantCulture))));

        var other = await service.NewTenantAsync();
        await other.QrApi().GetAsync($"/api/analytics-api/scans.csv?qrId={codes[0].Id}").ErrorAsync(HttpStatusCode.NotFound);
        await other.QrApi().GetAsync($"/api/analytics-api/scans.csv?batchId={batchId}").ErrorAsync(HttpStatusCode.NotFound, "Batch not found");
        await tenant.QrApi().GetAsync("/api/analytics-api/scans.csv").ErrorAsync(HttpStatusCode.BadRequest, "qrId or batchId");
        await tenant.QrApi().GetAsync($"/api/analytics-api/scans.csv?qrId={codes[0].Id}&batchId={batchId}").ErrorAsync(HttpStatusCode.BadRequest);
        await tenant.QrApi().GetAsync($"/api/analytics-api/scans.csv?qrId={codes[0].Id}&from=5&to=1").ErrorAsync(HttpStatusCode.BadRequest, "from");
        await tenant.QrApi().GetAsync($"/api/analytics-api/scans.csv?qrId={codes[0].Id}&from=yesterday").ErrorAsync(HttpStatusCode.BadRequest, "from");
    }
}
