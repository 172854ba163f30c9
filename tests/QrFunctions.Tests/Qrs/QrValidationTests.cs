using System.Net;
using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Qrs;

public class QrValidationTests(TestService service) : IClassFixture<TestService>
{
    public static TheoryData<string, string> BadCreates => new()
    {
        { "{not json", "Malformed JSON" },
        { "[1,2]", "JSON object" },
        { """{"name":"x"}""", "qrType" },
        { """{"qrType":"HOLOGRAM","qrRedirectUrl":"https://a.example/"}""", "qrType" },
        { """{"qrType":42}""", "qrType" },
        { """{"qrType":"WEB"}""", "qrRedirectUrl" },
        { """{"qrType":"WEB","qrRedirectUrl":"javascript:alert(1)"}""", "qrRedirectUrl" },
        { """{"qrType":"WEB","qrRedirectUrl":"/relative/path"}""", "qrRedirectUrl" },
        { """{"qrType":"WEB","qrRedirectUrl":"ftp://files.example/x"}""", "qrRedirectUrl" },
        { """{"qrType":"WEB","qrRedirectUrl":"https://a.example/","displayId":"has space"}""", "displayId" },
        { """{"qrType":"WEB","qrRedirectUrl":"https://a.example/","displayId":"a/b"}""", "displayId" },
        { """{"qrType":"WEB","qrRedirectUrl":"https://a.example/","name":123}""", "name" },
        { """{"qrType":"WEB","qrRedirectUrl":"https://a.example/","tags":"summer"}""", "tags" },
        { """{"qrType":"WEB","qrRedirectUrl":"https://a.example/","metadata":[1]}""", "metadata" },
        { """{"qrType":"WEB","qrRedirectUrl":"https://a.example/","baseUrl":"https://qr.acme.example"}""", "baseUrl" },
        { """{"qrType":"WEB","qrRedirectUrl":"https://a.example/","baseUrl":"https://not-ours.example/"}""", "baseUrl" },
        { """{"qrType":"APP_DOWNLOAD","metadata":{"iosUrl":"javascript:x"}}""", "iosUrl" },
        { """{"qrType":"LINK_LIST","metadata":{"links":[{"title":"x","url":"data:text/html,hi"}]}}""", "links" },
        { """{"qrType":"MULTI_LOCALE","qrRedirectUrls":[{"locale":"de"}]}""", "qrRedirectUrl" },
        { """{"qrType":"WEB","qrRedirectUrl":"https://a.example/","settings":{"expiryDate":"soon"}}""", "expiryDate" },
    };

    [Theory]
    [MemberData(nameof(BadCreates))]
    public async Task BadCreateRequestsAre400sNamingTheFieldAndWriteNothing(string body, string field)
    {
        var tenant = await service.NewTenantAsync();
        await tenant.QrApi().PostAsync("/api/qrs-api", ApiCalls.Json(body)).ErrorAsync(HttpStatusCode.BadRequest, field);
        var list = await tenant.QrApi().GetAsync("/api/qrs-api/v2/teams").DataAsync();
        Assert.Equal(0, list.GetProperty("totalCount").GetInt32());
    }

    [Fact]
    public async Task AnOversizeBodyIs413()
    {
        var tenant = await service.NewTenantAsync();
        var huge = """{"qrType":"WEB","qrRedirectUrl":"https://a.example/","metadata":{"blob":"BLOB"}}""".Replace("BLOB", new string('x', 300_000));
        await tenant.QrApi().PostAsync("/api/qrs-api", ApiCalls.Json(huge)).ErrorAsync(HttpStatusCode.RequestEntityTooLarge);
    }

    [Fact]
    public async Task ABadUpdateLeavesTheCodeAsItWas()
    {
        var tenant = await service.NewTenantAsync();
        var qr = await tenant.QrApi().PostJsonAsync("/api/qrs-api", new { qrType = "WEB", name = "keep", qrRedirectUrl = "https://a.example/" }).DataAsync(HttpStatusCode.Created);
        var id = qr.GetProperty("id").GetString();
        await tenant.QrApi().PutJsonAsync($"/api/qrs-api/{id}", new { qrType = "WEB", name = "changed", qrRedirectUrl = "javascript:alert(1)" })
            .ErrorAsync(HttpStatusCode.BadRequest, "qrRedirectUrl");
        var after = await tenant.QrApi().GetAsync($"/api/qrs-api/{id}").DataAsync();
        Assert.Equal("keep", after.GetProperty("name").GetString());
        Assert.Equal(qr.GetProperty("updatedAt").GetInt64(), after.GetProperty("updatedAt").GetInt64());
    }

    /// <summary>First path segments the app or the Functions host serves: a code there could never be scanned.</summary>
    [Theory]
    [InlineData("api")]
    [InlineData("V1")]
    [InlineData("admin")]
    [InlineData("Runtime")]
    [InlineData("openapi")]
    [InlineData("invite")]
    [InlineData("Docs")]
    public async Task AReservedFirstSegmentIsRefusedAsADisplayIdOnCreateAndUpdate(string displayId)
    {
        var tenant = await service.NewTenantAsync();
        await tenant.QrApi().PostJsonAsync("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://a.example/", displayId })
            .ErrorAsync(HttpStatusCode.BadRequest, "reserved");
        var qr = await tenant.QrApi().PostJsonAsync("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://a.example/" }).DataAsync(HttpStatusCode.Created);
        var id = qr.GetProperty("id").GetString();
        await tenant.QrApi().PutJsonAsync($"/api/qrs-api/{id}", new { qrType = "WEB", qrRedirectUrl = "https://a.example/", displayId })
            .ErrorAsync(HttpStatusCode.BadRequest, "reserved");
        Assert.Equal(qr.GetProperty("displayId").GetString(), (await tenant.QrApi().GetAsync($"/api/qrs-api/{id}").DataAsync()).GetProperty("displayId").GetString());
    }

    [Fact]
    public void ReservedSegmentsAreEveryLiteralFirstSegmentAndTheHostsOwn() =>
        Assert.Equal(["admin", "api", "docs", "invite", "openapi", "runtime", "v1"], QrFunctions.Hosting.FunctionCatalog.App.ReservedFirstSegments.Order());
}
