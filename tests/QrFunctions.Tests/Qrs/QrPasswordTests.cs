using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Data.Tables;
using QrFunctions.Cli;
using QrFunctions.Qrs;
using QrFunctions.Scans;
using QrFunctions.Storage;
using QrFunctions.Tests.Infrastructure;
using QrFunctions.Tests.Scans;
using Xunit;

namespace QrFunctions.Tests.Qrs;

/// <summary>
/// Code passwords are stored as salted PBKDF2 hashes, never shown (the API says only that one is set), still unlock
/// scans, follow updates, and codes stored with a plaintext password keep working and get hashed.
/// </summary>
public class QrPasswordTests(ScanTestService service) : IClassFixture<ScanTestService>
{
    private static object Protected(string password) => new { passwordEnabled = true, password };

    private async Task<JsonElement> CreateAsync(Tenant tenant, object settings, string qrType = "WEB") =>
        await tenant.QrApi().PostJsonAsync("/api/qrs-api", new { qrType, qrRedirectUrl = "https://example.com/protected", settings }).DataAsync(HttpStatusCode.Created);

    private async Task<TableEntity> CodeRowAsync(Tenant tenant, string qrId) =>
        (await service.Storage.TeamData.GetEntityAsync<TableEntity>(tenant.TeamId, QrKeys.Qr(qrId))).Value;

    private async Task<TableEntity> RouteRowAsync(string displayId) =>
        (await service.Storage.Routes.GetEntityAsync<TableEntity>(displayId, QrRoute.Row)).Value;

    private static JsonObject Settings(TableEntity row, string property) => (JsonObject)EntityJson.Read(row, property)!["settings"]!;

    private async Task<HttpStatusCode> UnlockAsync(string displayId, string password) =>
        (await service.Anonymous().PostAsync($"/{displayId}/unlock", new FormUrlEncodedContent([new("password", password)]))).StatusCode;

    private async Task<HttpStatusCode> ScanAsync(string displayId) => (await service.Anonymous().GetAsync("/" + displayId)).StatusCode;

    [Fact]
    public async Task APasswordIsStoredHashedAndNeverShownAnywhere()
    {
        var tenant = await service.NewTenantAsync();
        await tenant.V1().PostJsonAsync("/v1/webhooks", new { url = "https://8.8.8.8/hook", events = new[] { "codes.created", "codes.updated" } });
        var created = await CreateAsync(tenant, Protected("hunter2"));
        var id = created.GetProperty("id").GetString()!;
        var displayId = created.GetProperty("displayId").GetString()!;
        await tenant.QrApi().PatchJsonAsync($"/api/qrs-api/{id}/title", new { title = "Renamed" }).DataAsync();

        var settings = created.GetProperty("settings");
        Assert.Equal(JsonValueKind.Null, settings.GetProperty("password").ValueKind);
        Assert.True(settings.GetProperty("passwordSet").GetBoolean());
        Assert.True(settings.GetProperty("passwordEnabled").GetBoolean());
        var answers = new[]
        {
            created.GetRawText(),
            (await tenant.QrApi().GetAsync($"/api/qrs-api/{id}").DataAsync()).GetRawText(),
            (await tenant.QrApi().GetAsync($"/api/qrs-api/teams/{id}").DataAsync()).GetRawText(),
            (await tenant.QrApi().GetAsync("/api/qrs-api/v2/teams?limit=10").DataAsync()).GetRawText(),
            (await tenant.QrApi().GetAsync("/api/qrs-api/v2/teams?search=Renamed").DataAsync()).GetRawText(),
            (await tenant.QrApi().GetAsync("/api/qrs-api/teams/fromTime/0").DataAsync()).GetRawText(),
        };
        var audit = (await (await tenant.V1().GetAsync("/v1/audit-logs?limit=100")).BodyAsync()).GetRawText();
        Assert.Contains("\"passwordHash\":\"[redacted]\"", audit); // the entry says the password was set, and nothing more
        Assert.DoesNotContain("hunter2", audit);
        Assert.DoesNotContain("pbkdf2", audit);
        var queued = (await service.Storage.Queue(service.Storage.Names.WebhookDeliveriesQueue).PeekMessagesAsync(32)).Value
            .Select(m => m.Body.ToString()).Where(b => b.Contains(tenant.TeamId)).ToList();
        Assert.Equal(2, queued.Count);
        foreach (var text in answers.Concat(queued))
        {
            Assert.DoesNotContain("hunter2", text);
            Assert.DoesNotContain("pbkdf2", text);
            Assert.DoesNotContain(QrPasswords.HashField, text);
        }

        foreach (var stored in new[] { Settings(await CodeRowAsync(tenant, id), "Doc"), Settings(await RouteRowAsync(displayId), QrRoute.QrProperty) })
        {
            Assert.DoesNotContain("hunter2", stored.ToJsonString());
            Assert.False(stored.ContainsKey("password"));
            var hash = stored[QrPasswords.HashField]!.GetValue<string>();
            Assert.StartsWith($"pbkdf2-sha256${QrPasswords.Iterations}$", hash);
            Assert.True(QrPasswords.Verify("hunter2", hash));
            Assert.False(QrPasswords.Verify("hunter3", hash));
        }
        // Salted: the same password hashes differently for another code.
        var other = await CreateAsync(tenant, Protected("hunter2"));
        Assert.NotEqual(Settings(await CodeRowAsync(tenant, id), "Doc")[QrPasswords.HashField]!.GetValue<string>(),
            Settings(await CodeRowAsync(tenant, other.GetProperty("id").GetString()!), "Doc")[QrPasswords.HashField]!.GetValue<string>());
    }

    [Fact]
    public async Task TheHashedPasswordUnlocksTheScan()
    {
        var tenant = await service.NewTenantAsync();
        var displayId = (await CreateAsync(tenant, Protected("s3cret"))).GetProperty("displayId").GetString()!;

        Assert.Equal(HttpStatusCode.OK, await ScanAsync(displayId)); // the password form
        Assert.Equal(HttpStatusCode.Unauthorized, await UnlockAsync(displayId, "guess"));
        Assert.Equal(HttpStatusCode.Unauthorized, await UnlockAsync(displayId, ""));
        Assert.Equal(HttpStatusCode.Unauthorized, await UnlockAsync(displayId, "s3cret "));
        Assert.Equal(HttpStatusCode.Found, await UnlockAsync(displayId, "s3cret"));
    }

    [Fact]
    public async Task UpdatesKeepReplaceOrRemoveTheHash()
    {
        var tenant = await service.NewTenantAsync();
        var created = await CreateAsync(tenant, Protected("first"));
        var id = created.GetProperty("id").GetString()!;
        var displayId = created.GetProperty("displayId").GetString()!;
        var firstHash = Settings(await CodeRowAsync(tenant, id), "Doc")[QrPasswords.HashField]!.GetValue<string>();
        async Task<JsonElement> PutAsync(object settings) =>
            await tenant.QrApi().PutJsonAsync($"/api/qrs-api/{id}", new { qrType = "WEB", qrRedirectUrl = "https://example.com/protected", displayId, settings }).DataAsync();

        // Sent back as read (password null, passwordSet true), or without a password at all: the hash stays.
        var echoed = await PutAsync(new { passwordEnabled = true, password = (string?)null, passwordSet = true });
        Assert.True(echoed.GetProperty("settings").GetProperty("passwordSet").GetBoolean());
        await PutAsync(new { passwordEnabled = true });
        await tenant.QrApi().PatchJsonAsync($"/api/qrs-api/{id}/title", new { title = "Renamed" }).DataAsync();
        Assert.Equal(firstHash, Settings(await CodeRowAsync(tenant, id), "Doc")[QrPasswords.HashField]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.Found, await UnlockAsync(displayId, "first"));

        // A copy keeps the password.
        var copy = await tenant.QrApi().PostJsonAsync($"/api/qrs-api/duplicate/{id}", new { }).DataAsync(HttpStatusCode.Created);
        Assert.True(copy.GetProperty("settings").GetProperty("passwordSet").GetBoolean());
        Assert.Equal(HttpStatusCode.Found, await UnlockAsync(copy.GetProperty("displayId").GetString()!, "first"));

        // A new password replaces it.
        await PutAsync(Protected("second"));
        Assert.Equal(HttpStatusCode.Unauthorized, await UnlockAsync(displayId, "first"));
        Assert.Equal(HttpStatusCode.Found, await UnlockAsync(displayId, "second"));

        // Protection off removes it: the code redirects, and turning protection on again without a password protects nothing.
        var off = await PutAsync(new { passwordEnabled = false });
        Assert.False(off.GetProperty("settings").GetProperty("passwordSet").GetBoolean());
        Assert.False(Settings(await CodeRowAsync(tenant, id), "Doc").ContainsKey(QrPasswords.HashField));
        Assert.False(Settings(await RouteRowAsync(displayId), QrRoute.QrProperty).ContainsKey(QrPasswords.HashField));
        Assert.Equal(HttpStatusCode.Found, await ScanAsync(displayId));
        var on = await PutAsync(new { passwordEnabled = true });
        Assert.False(on.GetProperty("settings").GetProperty("passwordSet").GetBoolean());
        Assert.Equal(HttpStatusCode.Found, await ScanAsync(displayId));
    }

    [Fact]
    public async Task AHashSentByAClientIsIgnored()
    {
        var tenant = await service.NewTenantAsync();
        var forged = QrPasswords.Hash("chosen", iterations: 1);
        var created = await CreateAsync(tenant, new { passwordEnabled = true, passwordHash = forged });
        Assert.False(created.GetProperty("settings").GetProperty("passwordSet").GetBoolean());
        Assert.False(Settings(await CodeRowAsync(tenant, created.GetProperty("id").GetString()!), "Doc").ContainsKey(QrPasswords.HashField));
        Assert.Equal(HttpStatusCode.Found, await ScanAsync(created.GetProperty("displayId").GetString()!));
        await tenant.QrApi().PostJsonAsync("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://example.com/", settings = new { passwordEnabled = true, password = 42 } })
            .ErrorAsync(HttpStatusCode.BadRequest, "password");
        await tenant.QrApi().PostJsonAsync("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://example.com/", settings = new { passwordEnabled = true, password = new string('p', 129) } })
            .ErrorAsync(HttpStatusCode.BadRequest, "password");
    }

    [Fact]
    public void MalformedStoredHashesNeverMatch()
    {
        foreach (var stored in new[] { "", "pbkdf2-sha256", "pbkdf2-sha256$0$AAAA$AAAA", "pbkdf2-sha256$99999999$AAAA$AAAA", "pbkdf2-sha256$10$%%%$AAAA",
                     "pbkdf2-sha256$10$$", "sha1$10$AAAA$AAAA", "plain" })
            Assert.False(QrPasswords.Verify("plain", stored), stored);
    }

    /// <summary>Rewrites a code as builds before hashing stored it: settings.password in clear in its content, approved version and route.</summary>
    private async Task<(string Id, string DisplayId)> LegacyCodeAsync(Tenant tenant, string password)
    {
        var created = await CreateAsync(tenant, new { passwordEnabled = true });
        var id = created.GetProperty("id").GetString()!;
        var displayId = created.GetProperty("displayId").GetString()!;
        static JsonObject Legacy(JsonObject doc, string password)
        {
            var settings = (JsonObject)doc["settings"]!;
            settings.Remove(QrPasswords.HashField);
            settings["password"] = password;
            return doc;
        }
        var row = await CodeRowAsync(tenant, id);
        EntityJson.Write(row, "Doc", Legacy(EntityJson.Read(row, "Doc")!, password));
        EntityJson.Write(row, "Approved", Legacy(EntityJson.Read(row, "Doc")!, password));
        await service.Storage.TeamData.UpdateEntityAsync(row, row.ETag, TableUpdateMode.Replace);
        var route = await RouteRowAsync(displayId);
        EntityJson.Write(route, QrRoute.QrProperty, Legacy(EntityJson.Read(route, QrRoute.QrProperty)!, password));
        await service.Storage.Routes.UpdateEntityAsync(route, route.ETag, TableUpdateMode.Replace);
        return (id, displayId);
    }

    private async Task AssertHashedEverywhereAsync(Tenant tenant, string id, string displayId, string password)
    {
        var row = await CodeRowAsync(tenant, id);
        foreach (var settings in new[] { Settings(row, "Doc"), Settings(row, "Approved"), Settings(await RouteRowAsync(displayId), QrRoute.QrProperty) })
        {
            Assert.False(settings.ContainsKey("password"), settings.ToJsonString());
            Assert.True(QrPasswords.Verify(password, settings[QrPasswords.HashField]!.GetValue<string>()));
        }
    }

    [Fact]
    public async Task ACodeStoredWithAPlaintextPasswordStillUnlocksAndIsHashedWhenFirstRead()
    {
        var tenant = await service.NewTenantAsync();
        var (id, displayId) = await LegacyCodeAsync(tenant, "old-style");

        Assert.Equal(HttpStatusCode.Unauthorized, await UnlockAsync(displayId, "wrong"));
        Assert.Equal(HttpStatusCode.Found, await UnlockAsync(displayId, "old-style"));
        var read = await tenant.QrApi().GetAsync($"/api/qrs-api/{id}").DataAsync();
        Assert.DoesNotContain("old-style", read.GetRawText());
        Assert.True(read.GetProperty("settings").GetProperty("passwordSet").GetBoolean());

        await AssertHashedEverywhereAsync(tenant, id, displayId, "old-style");
        Assert.Equal(HttpStatusCode.Found, await UnlockAsync(displayId, "old-style"));
        var audit = await (await tenant.V1().GetAsync("/v1/audit-logs?limit=100")).BodyAsync();
        Assert.DoesNotContain("old-style", audit.GetRawText());
        Assert.DoesNotContain("pbkdf2", audit.GetRawText());
    }

    [Fact]
    public async Task TheOperatorCommandHashesEveryStoredPlaintextPasswordAndSaysWhich()
    {
        var tenant = await service.NewTenantAsync();
        var (first, firstDisplay) = await LegacyCodeAsync(tenant, "one");
        var (second, secondDisplay) = await LegacyCodeAsync(tenant, "two");
        var untouched = (await CreateAsync(tenant, Protected("three"))).GetProperty("id").GetString()!;

        var report = JsonSerializer.SerializeToNode(await OperatorCommands.MigratePasswordsAsync(service.App.Services, CancellationToken.None))!;
        var codes = report["codes"]!.AsArray().Select(c => c!["qrId"]!.GetValue<string>()).ToList();
        Assert.Contains(first, codes);
        Assert.Contains(second, codes);
        Assert.DoesNotContain(untouched, codes);
        var one = report["codes"]!.AsArray().Single(c => c!["qrId"]!.GetValue<string>() == first)!;
        Assert.Equal(["Doc", "Approved", "route"], one["changed"]!.AsArray().Select(x => x!.GetValue<string>()));
        Assert.DoesNotContain("\"one\"", report.ToJsonString());

        await AssertHashedEverywhereAsync(tenant, first, firstDisplay, "one");
        await AssertHashedEverywhereAsync(tenant, second, secondDisplay, "two");
        Assert.Equal(HttpStatusCode.Found, await UnlockAsync(secondDisplay, "two"));
        // Run again: nothing left to change.
        var again = JsonSerializer.SerializeToNode(await OperatorCommands.MigratePasswordsAsync(service.App.Services, CancellationToken.None))!;
        Assert.Empty(again["codes"]!.AsArray());
        Assert.Empty(again["routes"]!.AsArray());
    }
}
