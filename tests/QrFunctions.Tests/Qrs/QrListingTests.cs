using System.Net;
using System.Text.Json;
using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Qrs;

public class QrListingTests(TestService service) : IClassFixture<TestService>
{
    private static async Task<List<JsonElement>> SeedAsync(Tenant tenant, params string[] names)
    {
        var created = new List<JsonElement>();
        foreach (var name in names)
        {
            created.Add(await tenant.QrApi().PostJsonAsync("/api/qrs-api", new { name, qrType = "WEB", qrRedirectUrl = "https://example.com/" + name })
                .DataAsync(HttpStatusCode.Created));
            await Task.Delay(3); // distinct createdAt/updatedAt
        }
        return created;
    }

    private static List<string> Names(JsonElement page) => page.GetProperty("qrs").EnumerateArray().Select(q => q.GetProperty("name").GetString()!).ToList();

    [Fact]
    public async Task DefaultsAreUpdatedAtDescendingTenPerPageWithATotalCount()
    {
        var tenant = await service.NewTenantAsync();
        await SeedAsync(tenant, Enumerable.Range(1, 12).Select(i => $"code {i:D2}").ToArray());
        var first = await tenant.QrApi().GetAsync("/api/qrs-api/v2/teams/").DataAsync();
        Assert.Equal(12, first.GetProperty("totalCount").GetInt32());
        Assert.Equal(1, first.GetProperty("page").GetInt32());
        Assert.Equal(10, first.GetProperty("limit").GetInt32());
        Assert.Equal(Enumerable.Range(3, 10).Reverse().Select(i => $"code {i:D2}"), Names(first));
        var second = await tenant.QrApi().GetAsync("/api/qrs-api/v2/teams?page=2").DataAsync();
        Assert.Equal(["code 02", "code 01"], Names(second));
    }

    [Theory]
    [InlineData("createdAt", "asc", new[] { "banana", "Apple", "cherry" })]
    [InlineData("createdAt", "desc", new[] { "cherry", "Apple", "banana" })]
    [InlineData("updatedAt", "asc", new[] { "banana", "Apple", "cherry" })]
    [InlineData("name", "asc", new[] { "Apple", "banana", "cherry" })]
    [InlineData("name", "desc", new[] { "cherry", "banana", "Apple" })]
    public async Task EverySortFieldWorksInBothDirections(string sortBy, string sortOrder, string[] expected)
    {
        var tenant = await service.NewTenantAsync();
        await SeedAsync(tenant, "banana", "Apple", "cherry");
        var page = await tenant.QrApi().GetAsync($"/api/qrs-api/v2/teams?sortBy={sortBy}&sortOrder={sortOrder}").DataAsync();
        Assert.Equal(expected, Names(page));
    }

    [Fact]
    public async Task UpdatingACodeMovesItInTheUpdatedAtOrderAndRenamingInTheNameOrder()
    {
        var tenant = await service.NewTenantAsync();
        var codes = await SeedAsync(tenant, "alpha", "beta", "gamma");
        await tenant.QrApi().PatchJsonAsync($"/api/qrs-api/{codes[0].GetProperty("id").GetString()}/title", new { title = "zulu" }).DataAsync();
        Assert.Equal(["zulu", "gamma", "beta"], Names(await tenant.QrApi().GetAsync("/api/qrs-api/v2/teams").DataAsync()));
        Assert.Equal(["beta", "gamma", "zulu"], Names(await tenant.QrApi().GetAsync("/api/qrs-api/v2/teams?sortBy=name&sortOrder=asc").DataAsync()));
    }

    [Fact]
    public async Task SearchMatchesNameOrDisplayIdCaseInsensitivelyAndSeesLaterChanges()
    {
        var tenant = await service.NewTenantAsync();
        var codes = await SeedAsync(tenant, "Summer Sale", "Winter Menu", "summer menu", "Autumn");
        var result = await tenant.QrApi().GetAsync("/api/qrs-api/v2/teams?search=SUMMER&sortBy=name&sortOrder=asc").DataAsync();
        Assert.Equal(2, result.GetProperty("totalCount").GetInt32());
        Assert.Equal(["summer menu", "Summer Sale"], Names(result));

        var byDisplayId = codes[3].GetProperty("displayId").GetString()!;
        var found = await tenant.QrApi().GetAsync($"/api/qrs-api/v2/teams?search={byDisplayId.ToUpperInvariant()}").DataAsync();
        Assert.Equal(["Autumn"], Names(found));

        // The in-memory list picks up renames and deletions made after it was loaded.
        await tenant.QrApi().PatchJsonAsync($"/api/qrs-api/{codes[1].GetProperty("id").GetString()}/title", new { title = "Summer Drinks" }).DataAsync();
        await tenant.QrApi().DeleteAsync($"/api/qrs-api/{codes[0].GetProperty("id").GetString()}");
        var after = await tenant.QrApi().GetAsync("/api/qrs-api/v2/teams?search=summer&sortBy=name&sortOrder=asc").DataAsync();
        Assert.Equal(["Summer Drinks", "summer menu"], Names(after));
    }

    [Theory]
    [InlineData("limit=0", "limit")]
    [InlineData("limit=101", "limit")]
    [InlineData("limit=ten", "limit")]
    [InlineData("page=0", "page")]
    [InlineData("sortBy=color", "sortBy")]
    [InlineData("sortOrder=up", "sortOrder")]
    public async Task BadListingParametersAreRefusedNamingTheParameter(string query, string field)
    {
        var tenant = await service.NewTenantAsync();
        await tenant.QrApi().GetAsync("/api/qrs-api/v2/teams?" + query).ErrorAsync(HttpStatusCode.BadRequest, field);
    }
}
