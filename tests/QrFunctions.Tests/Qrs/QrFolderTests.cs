using System.Net;
using System.Text.Json;
using Azure.Data.Tables;
using QrFunctions.Qrs;
using QrFunctions.Storage;
using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Qrs;

/// <summary>
/// GET /api/qrs-api/v2/teams?folderId=: the codes whose folderId or folderIds name the folder, from the folder's own index rows
/// and counter (written in the code's transaction), so a folder's page reads what any page reads.
/// </summary>
public class QrFolderTests(TestService service) : IClassFixture<TestService>
{
    private static async Task<string> CreateAsync(Tenant tenant, string name, string? folderId = null, string[]? folderIds = null) =>
        (await tenant.QrApi().PostJsonAsync("/api/qrs-api", new { name, qrType = "WEB", qrRedirectUrl = "https://example.com/", folderId, folderIds = folderIds ?? [] })
            .DataAsync(HttpStatusCode.Created)).GetProperty("id").GetString()!;

    /// <summary>The folder's page as "name / name" and its totalCount.</summary>
    private static async Task<(string Names, int Total)> FolderAsync(Tenant tenant, string folderId, string query = "")
    {
        var page = await tenant.QrApi().GetAsync($"/api/qrs-api/v2/teams?folderId={Uri.EscapeDataString(folderId)}{query}").DataAsync();
        return (string.Join(" / ", page.GetProperty("qrs").EnumerateArray().Select(q => q.GetProperty("name").GetString()!)), page.GetProperty("totalCount").GetInt32());
    }

    [Fact]
    public async Task AFoldersListHoldsItsCodesInEveryOrderWithItsOwnTotal()
    {
        var tenant = await service.NewTenantAsync();
        await CreateAsync(tenant, "b in spring", "spring");
        await CreateAsync(tenant, "a in summer", "summer");
        await CreateAsync(tenant, "c in spring by hierarchy", "spring|sub", ["campaigns", "spring"]);
        await CreateAsync(tenant, "d nowhere");
        await CreateAsync(tenant, "e in spring|sub only", "spring|sub");

        Assert.Equal(("c in spring by hierarchy / b in spring", 2), await FolderAsync(tenant, "spring"));
        Assert.Equal(("b in spring / c in spring by hierarchy", 2), await FolderAsync(tenant, "spring", "&sortBy=name&sortOrder=asc"));
        Assert.Equal(("b in spring / c in spring by hierarchy", 2), await FolderAsync(tenant, "spring", "&sortBy=createdAt&sortOrder=asc"));
        Assert.Equal(("c in spring by hierarchy", 2), await FolderAsync(tenant, "spring", "&limit=1"));
        Assert.Equal(("e in spring|sub only / c in spring by hierarchy", 2), await FolderAsync(tenant, "spring|sub"));
        Assert.Equal(("", 0), await FolderAsync(tenant, "autumn"));
        Assert.Equal(("b in spring", 1), await FolderAsync(tenant, "spring", "&search=b%20in"));
        Assert.Equal(5, (await tenant.QrApi().GetAsync("/api/qrs-api/v2/teams").DataAsync()).GetProperty("totalCount").GetInt32());
    }

    [Fact]
    public async Task MovingAndDeletingACodeMovesItsFolderRowsAndCounts()
    {
        var tenant = await service.NewTenantAsync();
        var id = await CreateAsync(tenant, "mover", "one");
        await tenant.QrApi().PutJsonAsync($"/api/qrs-api/{id}", new { name = "mover", qrType = "WEB", qrRedirectUrl = "https://example.com/", folderId = "two", folderIds = new[] { "three" } }).DataAsync();
        Assert.Equal(("", 0), await FolderAsync(tenant, "one"));
        Assert.Equal(("mover", 1), await FolderAsync(tenant, "two"));
        Assert.Equal(("mover", 1), await FolderAsync(tenant, "three"));

        await tenant.QrApi().PatchJsonAsync($"/api/qrs-api/{id}/title", new { title = "renamed" }).DataAsync(); // an update that keeps the folders
        Assert.Equal(("renamed", 1), await FolderAsync(tenant, "two", "&sortBy=name"));

        await tenant.QrApi().DeleteAsync($"/api/qrs-api/{id}").DataAsync();
        Assert.Equal(("", 0), await FolderAsync(tenant, "two"));
        Assert.Equal(("", 0), await FolderAsync(tenant, "three"));
        var leftover = await service.Storage.TeamData.QueryAsync<TableEntity>(TableQueries.PrefixFilter(tenant.TeamId, QrKeys.FolderIndexPrefix)).CountAsync();
        Assert.Equal(0, leftover);
    }

    [Fact]
    public async Task ACodeIsInAtMostSixFoldersAndFolderIdsMustBeIds()
    {
        var tenant = await service.NewTenantAsync();
        await tenant.QrApi().PostJsonAsync("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://example.com/", folderId = "a", folderIds = new[] { "b", "c", "d", "e", "f", "g" } })
            .ErrorAsync(HttpStatusCode.BadRequest, "at most 6 folders");
        // Six, counting folderId once even when folderIds repeats it: accepted, and a move between two such sets fits one transaction.
        var id = await CreateAsync(tenant, "six", "a", ["a", "b", "c", "d", "e", "f"]);
        await tenant.QrApi().PutJsonAsync($"/api/qrs-api/{id}", new { name = "moved", qrType = "WEB", qrRedirectUrl = "https://example.com/", folderId = "u", folderIds = new[] { "v", "w", "x", "y", "z" } }).DataAsync();
        Assert.Equal(("moved", 1), await FolderAsync(tenant, "z"));
        Assert.Equal(("", 0), await FolderAsync(tenant, "a"));
        await tenant.QrApi().GetAsync("/api/qrs-api/v2/teams?folderId=a%23b").ErrorAsync(HttpStatusCode.BadRequest, "folderId");
    }
}
