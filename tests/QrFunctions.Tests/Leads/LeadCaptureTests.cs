using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Azure.Data.Tables;
using QrFunctions.Storage;
using QrFunctions.Tests.Infrastructure;
using QrFunctions.Tests.Scans;
using Xunit;

namespace QrFunctions.Tests.Leads;

/// <summary>
/// settings.leadCapture: the form before the answer, a lead stored once per scan, validated, limited per visitor, counted in
/// the overview, listed and exported to editors, erased with an audit entry, announced as leads.created.
/// </summary>
public class LeadCaptureTests(ScanTestService service) : IClassFixture<ScanTestService>
{
    private static object LeadSettings(bool allowSkip = false) => new
    {
        leadCapture = new { fields = new[] { "name", "email", "phone", "question" }, required = new[] { "email" }, question = "Which size?", consentText = "You may email me.", allowSkip },
    };

    private async Task<(Tenant Tenant, string DisplayId, string QrId)> CodeAsync(bool allowSkip = false)
    {
        var tenant = await service.NewTenantAsync();
        var created = await tenant.QrApi().PostJsonAsync("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://example.com/shop", settings = LeadSettings(allowSkip) })
            .DataAsync(HttpStatusCode.Created);
        return (tenant, created.GetProperty("displayId").GetString()!, created.GetProperty("id").GetString()!);
    }

    /// <summary>One visitor (their own User-Agent, so the per-visitor limit of one test does not touch another's).</summary>
    private HttpClient Visitor()
    {
        var client = service.Anonymous();
        client.DefaultRequestHeaders.TryAddWithoutValidation("User-Agent", "lead-visitor " + Ids.Random(8));
        return client;
    }

    private static async Task<string> FormTokenAsync(HttpClient client, string displayId)
    {
        var html = await client.GetStringAsync("/" + displayId);
        Assert.Contains("You may email me.", html);
        return WebUtility.HtmlDecode(Regex.Match(html, "name=\"scan\" value=\"([^\"]+)\"").Groups[1].Value);
    }

    private static Task<HttpResponseMessage> SubmitAsync(HttpClient client, string displayId, string token, params (string, string)[] fields) =>
        client.PostAsync($"/{displayId}/continue", new FormUrlEncodedContent(
            new[] { ("scan", token), ("step", "lead") }.Concat(fields).Select(f => new KeyValuePair<string, string>(f.Item1, f.Item2))));

    private static readonly (string, string)[] Valid = [("name", "Ada"), ("email", "ada@example.test"), ("phone", "+49 170 123"), ("answer", "XL"), ("consent", "yes")];

    [Theory]
    [InlineData("""{"fields":["name","fax"],"consentText":"ok"}""", "fields must list")]
    [InlineData("""{"fields":["name"]}""", "consentText is required")]
    [InlineData("""{"fields":["question"],"consentText":"ok"}""", "question is required")]
    [InlineData("""{"fields":["name"],"required":["email"],"consentText":"ok"}""", "required may only name")]
    [InlineData("\"yes\"", "leadCapture must be an object")]
    public async Task LeadCaptureSettingsAreCheckedOnCreate(string leadCapture, string message)
    {
        var tenant = await service.NewTenantAsync();
        var body = "{\"qrType\":\"WEB\",\"qrRedirectUrl\":\"https://example.com/\",\"settings\":{\"leadCapture\":" + leadCapture + "}}";
        await tenant.QrApi().PostAsync("/api/qrs-api", ApiCalls.Json(body)).ErrorAsync(HttpStatusCode.BadRequest, message);
    }

    [Fact]
    public async Task AValidLeadIsStoredOncePerScanCountedAndListed()
    {
        var (tenant, displayId, qrId) = await CodeAsync();
        var client = Visitor();
        var token = await FormTokenAsync(client, displayId);

        var first = await SubmitAsync(client, displayId, token, Valid);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Contains("url=https://example.com/shop", await first.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, (await SubmitAsync(client, displayId, token, Valid)).StatusCode); // the same scan's form again

        var page = await tenant.QrApi().GetAsync($"/api/qrs-api/{qrId}/leads").DataAsync();
        var lead = Assert.Single(page.GetProperty("leads").EnumerateArray());
        Assert.Equal(("Ada", "ada@example.test", "+49 170 123", "Which size?", "XL", "You may email me."),
            (lead.GetProperty("name").GetString(), lead.GetProperty("email").GetString(), lead.GetProperty("phone").GetString(),
             lead.GetProperty("question").GetString(), lead.GetProperty("answer").GetString(), lead.GetProperty("consentText").GetString()));
        Assert.Equal(1, page.GetProperty("totalCount").GetInt64());
        var overview = await ScanTestService.OverviewAsync(tenant, qrId);
        Assert.Equal((1L, 1L, 0L), ((long)overview["totalLeadsCount"]!, (long)overview["leadsTodayCount"]!, (long)overview["leadsYesterdayCount"]!));
        Assert.Equal(lead.GetProperty("createdAt").GetInt64(), (long)overview["leadsUpdatedAt"]!);
    }

    [Theory]
    [InlineData("email", "not-an-email", "Email is not a valid address.")]
    [InlineData("email", "", "Email is required.")]
    [InlineData("phone", "call me maybe", "Phone may hold only")]
    [InlineData("consent", "", "Please agree")]
    [InlineData("name", "Bad\u0001name", "Name contains characters")]
    public async Task AnInvalidLeadIsShownAgainWithItsErrorAndNotStored(string field, string value, string error)
    {
        var (tenant, displayId, qrId) = await CodeAsync();
        var client = Visitor();
        var token = await FormTokenAsync(client, displayId);
        var fields = Valid.Select(f => f.Item1 == field ? (field, value) : f.Item1 == "answer" ? ("answer", "<b>XL</b>") : f).ToArray();

        var response = await SubmitAsync(client, displayId, token, fields);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var html = await response.Content.ReadAsStringAsync();
        Assert.Contains(error, html);
        Assert.Contains("&lt;b&gt;XL&lt;/b&gt;", html); // what was typed comes back, encoded
        Assert.DoesNotContain("https://example.com/shop", html);
        Assert.Equal(0, (await tenant.QrApi().GetAsync($"/api/qrs-api/{qrId}/leads").DataAsync()).GetProperty("leads").GetArrayLength());
    }

    [Fact]
    public async Task SkippingNeedsTheCodesPermission()
    {
        var (_, strict, strictId) = await CodeAsync(allowSkip: false);
        var client = Visitor();
        var refused = await SubmitAsync(client, strict, await FormTokenAsync(client, strict), ("skip", "1"));
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.DoesNotContain("https://example.com/shop", await refused.Content.ReadAsStringAsync());

        var (_, lenient, _) = await CodeAsync(allowSkip: true);
        var skipped = await SubmitAsync(client, lenient, await FormTokenAsync(client, lenient), ("skip", "1"));
        Assert.Contains("url=https://example.com/shop", await skipped.Content.ReadAsStringAsync());
        Assert.NotEqual("", strictId);
    }

    [Fact]
    public async Task OneVisitorCannotFloodTheForm()
    {
        var (tenant, displayId, qrId) = await CodeAsync();
        var client = Visitor();
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 4; i++)
            statuses.Add((await SubmitAsync(client, displayId, await FormTokenAsync(client, displayId), Valid)).StatusCode);

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, (HttpStatusCode)429], statuses);
        Assert.Equal(3, (await tenant.QrApi().GetAsync($"/api/qrs-api/{qrId}/leads").DataAsync()).GetProperty("leads").GetArrayLength());
        // Another visitor is not held back by the first.
        var other = Visitor();
        Assert.Equal(HttpStatusCode.OK, (await SubmitAsync(other, displayId, await FormTokenAsync(other, displayId), Valid)).StatusCode);
    }

    [Fact]
    public async Task LeadsArePagedExportedAsCsvAndErasedWithAnAuditEntry()
    {
        var (tenant, displayId, qrId) = await CodeAsync();
        await tenant.V1().PostJsonAsync("/v1/webhooks", new { url = "https://1.1.1.1/hook", events = new[] { "leads.created" } });
        foreach (var name in new[] { "=HYPERLINK(\"x\")", "Bea, \"B\"", "Cy" })
        {
            var client = Visitor();
            await SubmitAsync(client, displayId, await FormTokenAsync(client, displayId), Valid.Select(f => f.Item1 == "name" ? ("name", name) : f).ToArray());
        }

        var first = await tenant.QrApi().GetAsync($"/api/qrs-api/{qrId}/leads?limit=2").DataAsync();
        Assert.Equal(2, first.GetProperty("leads").GetArrayLength());
        Assert.Equal("Cy", first.GetProperty("leads")[0].GetProperty("name").GetString()); // newest first
        var cursor = first.GetProperty("nextCursor").GetString()!;
        var second = await tenant.QrApi().GetAsync($"/api/qrs-api/{qrId}/leads?limit=2&cursor={cursor}").DataAsync();
        Assert.Equal(JsonValueKind.Null, second.GetProperty("nextCursor").ValueKind);
        var last = Assert.Single(second.GetProperty("leads").EnumerateArray());
        await tenant.QrApi().GetAsync($"/api/qrs-api/{qrId}/leads?cursor=bm9wZQ").ErrorAsync(HttpStatusCode.BadRequest, "cursor");

        var csv = await tenant.QrApi().GetAsync($"/api/qrs-api/{qrId}/leads?format=csv");
        Assert.Equal("text/csv", csv.Content.Headers.ContentType!.MediaType);
        var lines = (await csv.Content.ReadAsStringAsync()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("leadId,qrId,createdAt,scanTime,name,email,phone,question,answer,consentText", lines[0]);
        Assert.Equal(4, lines.Length);
        Assert.Contains(lines, l => l.Contains(",\"'=HYPERLINK(\"\"x\"\")\","));
        Assert.Contains(lines, l => l.Contains(",\"Bea, \"\"B\"\"\","));

        var leadId = last.GetProperty("leadId").GetString()!;
        await tenant.QrApi().DeleteAsync($"/api/qrs-api/{qrId}/leads/{leadId}").DataAsync();
        await tenant.QrApi().DeleteAsync($"/api/qrs-api/{qrId}/leads/{leadId}").ErrorAsync(HttpStatusCode.NotFound);
        Assert.Equal(2, (await tenant.QrApi().GetAsync($"/api/qrs-api/{qrId}/leads").DataAsync()).GetProperty("totalCount").GetInt64());
        Assert.Equal(2, (long)(await ScanTestService.OverviewAsync(tenant, qrId))["totalLeadsCount"]!);
        var audit = JsonDocument.Parse(await tenant.V1().GetStringAsync("/v1/audit-logs?action=leads.deleted")).RootElement.GetProperty("data");
        var entry = Assert.Single(audit.EnumerateArray());
        Assert.Equal(leadId, entry.GetProperty("resource_id").GetString());
        Assert.DoesNotContain("ada@example.test", entry.ToString());

        var queue = service.Storage.Queue(service.Storage.Names.WebhookDeliveriesQueue);
        var deliveries = (await queue.PeekMessagesAsync(32)).Value.Select(m => m.Body.ToString()).Where(b => b.Contains(tenant.TeamId)).ToList();
        Assert.Equal(3, deliveries.Count(d => d.Contains("leads.created")));
    }

    [Fact]
    public async Task AnotherTeamsCodeHasNoLeadsToShowOrErase()
    {
        var (_, _, qrId) = await CodeAsync();
        var other = await service.NewTenantAsync();
        await other.QrApi().GetAsync($"/api/qrs-api/{qrId}/leads").ErrorAsync(HttpStatusCode.NotFound);
        await other.QrApi().DeleteAsync($"/api/qrs-api/{qrId}/leads/1-00000000000000000000000000000000").ErrorAsync(HttpStatusCode.NotFound);
        Assert.True(await service.Storage.TeamData.QueryAsync<TableEntity>(TableQueries.PrefixFilter(other.TeamId, "lead|")).CountAsync() == 0);
    }
}
