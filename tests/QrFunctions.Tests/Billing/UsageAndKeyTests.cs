using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using QrFunctions.Auth;
using QrFunctions.Tests.Infrastructure;
using QrFunctions.Usage;
using Xunit;

namespace QrFunctions.Tests.Billing;

public class UsageAndKeyTests(TestService service) : IClassFixture<TestService>
{
    private static string Today => DateTime.UtcNow.ToString("yyyy-MM-dd");

    [Fact]
    public async Task BillableCallsAreCountedExactlyAfterAFlushAndNotTwice()
    {
        var tenant = await service.NewTenantAsync();
        var client = tenant.QrApi();
        for (var i = 0; i < 7; i++) (await client.GetAsync("/api/qr-templates-api")).EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.Unauthorized, (await tenant.QrApi(tenant.OwnerKey with { Secret = "wrong" }).GetAsync("/api/qr-templates-api")).StatusCode);
        var meter = service.Get<UsageMeter>();
        await meter.FlushAsync(CancellationToken.None);
        await meter.FlushAsync(CancellationToken.None); // nothing new: must not add anything

        var byEndpoint = await (await tenant.V1().GetAsync($"/v1/usage?from={Today}&to={Today}&group_by=endpoint")).BodyAsync();
        var templates = byEndpoint.GetProperty("data").EnumerateArray().Single(r => r.GetProperty("endpoint").GetString() == "TemplatesList");
        Assert.Equal(7, templates.GetProperty("calls").GetInt64());
        var byKey = await (await tenant.V1().GetAsync($"/v1/usage?from={Today}&to={Today}&group_by=key")).BodyAsync();
        Assert.Contains(byKey.GetProperty("data").EnumerateArray(), r => r.GetProperty("key").GetString() == tenant.OwnerKey.KeyId);
    }

    /// <summary>An owner calling with the given key id, as the access filter would hand it to the meter.</summary>
    private static Caller OwnerCaller(Tenant tenant, string keyId) =>
        new(new ApiKey { PartitionKey = keyId }, new QrFunctions.Organizations.Organization { PartitionKey = tenant.OrgId },
            new QrFunctions.Teams.Team { PartitionKey = tenant.TeamId }, Role.Owner);

    private async Task<long> BilledTodayAsync(Tenant tenant, string endpoint) =>
        (await UsageMeter.ReadAsync(service.Storage, tenant.OrgId, Today, Today, "endpoint", CancellationToken.None)).Single(r => r.Group == endpoint).Count;

    /// <summary>A meter of its own (a separate instance id), outside the test service.</summary>
    private static UsageMeter NewMeter(QrFunctions.Storage.StorageAccount storage) =>
        new(storage, TimeProvider.System, NullLogger<UsageMeter>.Instance, new ConfigurationBuilder().Build());

    [Fact]
    public async Task CountsFromARestartedInstanceAddUp()
    {
        var tenant = await service.NewTenantAsync();
        var caller = OwnerCaller(tenant, "key_restart");
        var before = NewMeter(service.Storage);
        for (var i = 0; i < 3; i++) before.Count(caller, "QrsList");
        await before.StopAsync(CancellationToken.None); // shutdown flushes
        var after = NewMeter(service.Storage);
        for (var i = 0; i < 4; i++) after.Count(caller, "QrsList");
        await after.FlushAsync(CancellationToken.None);
        Assert.Equal(7, await BilledTodayAsync(tenant, "QrsList"));
    }

    [Fact]
    public async Task AFlushStoredWithoutTheMeterHearingOfItIsNotCountedAgainByTheNextFlush()
    {
        var tenant = await service.NewTenantAsync();
        var caller = OwnerCaller(tenant, "key_lost_answer");
        await using var relay = new StorageRelay(service.Get<QrFunctions.Storage.StorageConnection>().ConnectionString!, RelayedService.Table, holdAnswers: false);
        var meter = NewMeter(new QrFunctions.Storage.StorageAccount(relay.Connection, service.Storage.Names));
        for (var i = 0; i < 3; i++) meter.Count(caller, "QrsList");

        relay.LoseAnswers = true; // Azurite stores the rows; every answer (and retry's answer) is lost on the way back
        await Assert.ThrowsAnyAsync<Exception>(() => meter.FlushAsync(CancellationToken.None));
        relay.LoseAnswers = false;
        meter.Count(caller, "QrsList");
        await meter.FlushAsync(CancellationToken.None);

        Assert.Equal(4, await BilledTodayAsync(tenant, "QrsList"));
    }

    [Fact]
    public async Task AnInstanceKeepsOneRowPerDayAndCallTypeHoweverOftenItFlushes()
    {
        var tenant = await service.NewTenantAsync();
        var caller = OwnerCaller(tenant, "key_many_flushes");
        var meter = NewMeter(service.Storage);
        for (var flush = 1; flush <= 5; flush++)
        {
            for (var i = 0; i < flush; i++) meter.Count(caller, "QrsList");
            meter.Count(caller, "QrsGet");
            await meter.FlushAsync(CancellationToken.None);
        }

        var rows = new List<Azure.Data.Tables.TableEntity>();
        await foreach (var row in service.Storage.Table(service.Storage.Names.Usage).QueryAsync<Azure.Data.Tables.TableEntity>(
            Azure.Data.Tables.TableClient.CreateQueryFilter($"PartitionKey eq {tenant.OrgId} and KeyId eq {"key_many_flushes"}")))
            rows.Add(row);
        Assert.Equal(["QrsGet", "QrsList"], rows.Select(r => r.GetString("Endpoint")).Order());
        Assert.Equal(15, await BilledTodayAsync(tenant, "QrsList"));
        Assert.Equal(5, await BilledTodayAsync(tenant, "QrsGet"));
    }

    [Fact]
    public async Task BadUsagePeriodsAreRefused()
    {
        var tenant = await service.NewTenantAsync();
        Assert.Equal(HttpStatusCode.BadRequest, (await tenant.V1().GetAsync("/v1/usage?from=2026-01-02&to=2026-01-01")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await tenant.V1().GetAsync("/v1/usage?from=2024-01-01&to=2026-01-01")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await tenant.V1().GetAsync("/v1/usage?from=yesterday&to=2026-01-01")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await tenant.V1().GetAsync($"/v1/usage?from={Today}&to={Today}&group_by=color")).StatusCode);
        var viewer = tenant.V1(await tenant.MemberKeyAsync(Role.Viewer));
        Assert.Equal(HttpStatusCode.Forbidden, (await viewer.GetAsync($"/v1/usage?from={Today}&to={Today}")).StatusCode);
    }

    [Fact]
    public async Task UsageWithoutAPeriodIsTheCurrentCalendarMonthSoFar()
    {
        var tenant = await service.NewTenantAsync();
        var today = DateOnly.FromDateTime(DateTime.UtcNow);
        var firstOfMonth = new DateOnly(today.Year, today.Month, 1);
        var table = service.Storage.Table(service.Storage.Names.Usage);
        foreach (var (day, count) in new[] { (firstOfMonth.AddDays(-1), 100L), (firstOfMonth, 3L), (today, 4L), (today.AddDays(1), 1000L) })
        {
            var d = day.ToString("yyyy-MM-dd");
            await table.UpsertEntityAsync(new Azure.Data.Tables.TableEntity(tenant.OrgId, $"{d}|{tenant.TeamId}|k|QrsList|test")
            {
                ["Day"] = d, ["TeamId"] = tenant.TeamId, ["KeyId"] = "k", ["Endpoint"] = "QrsList", ["Count"] = count,
            });
        }

        var response = await tenant.V1().GetAsync("/v1/usage");
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        var days = (await response.BodyAsync()).GetProperty("data").EnumerateArray().ToDictionary(r => r.GetProperty("day").GetString()!, r => r.GetProperty("calls").GetInt64());
        Assert.Equal(firstOfMonth == today ? 7 : 3, days[firstOfMonth.ToString("yyyy-MM-dd")]);
        Assert.Equal(firstOfMonth == today ? 7 : 4, days[today.ToString("yyyy-MM-dd")]);
        Assert.Equal(firstOfMonth == today ? 1 : 2, days.Count);
        Assert.Contains("current calendar month", QrFunctions.Hosting.FunctionCatalog.App.FindHttp("UsageGet")!.Summary);
    }

    [Fact]
    public async Task AKeyWorksInBothFormsIsListedWithoutItsSecretAndStopsWhenRevoked()
    {
        var tenant = await service.NewTenantAsync();
        var created = await (await tenant.V1().PostJsonAsync("/v1/api-keys", new { name = "CI deploy" })).BodyAsync();
        var id = created.GetProperty("id").GetString()!;
        var secret = created.GetProperty("client_secret").GetString()!;
        Assert.Equal($"qr3_sk_{id}.{secret}", created.GetProperty("token").GetString());
        var key = new IssuedKey(id, secret);

        (await tenant.QrApi(key).GetAsync("/api/qr-templates-api")).EnsureSuccessStatusCode();
        (await tenant.V1(key).GetAsync("/v1/organizations")).EnsureSuccessStatusCode();

        var list = await (await tenant.V1().GetAsync("/v1/api-keys")).GetAsync();
        Assert.DoesNotContain(secret, list);
        var listed = JsonDocument.Parse(list).RootElement.GetProperty("data").EnumerateArray().Single(k => k.GetProperty("id").GetString() == id);
        Assert.Equal("CI deploy", listed.GetProperty("name").GetString());
        Assert.False(listed.GetProperty("revoked").GetBoolean());

        var other = await service.NewTenantAsync();
        Assert.Equal(HttpStatusCode.NotFound, (await other.V1().DeleteAsync($"/v1/api-keys/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await tenant.V1().DeleteAsync($"/v1/api-keys/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await tenant.QrApi(key).GetAsync("/api/qr-templates-api")).StatusCode);
        var audit = await (await tenant.V1().GetAsync($"/v1/audit-logs?resource_type=api_keys&resource_id={id}")).BodyAsync();
        Assert.Equal(["api_keys.revoked", "api_keys.created"], audit.GetProperty("data").EnumerateArray().Select(e => e.GetProperty("action").GetString()));
    }

    [Fact]
    public async Task AnExpiredKeyIsUnauthorizedAndBadKeyRequestsAreRefused()
    {
        var tenant = await service.NewTenantAsync();
        var issued = await QrFunctions.ApiKeys.PersonalKeys.IssueAsync(service.Storage, tenant.OrgId, tenant.TeamId, tenant.OwnerEmail, "old", "test",
            DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeMilliseconds());
        Assert.Equal(HttpStatusCode.Unauthorized, (await tenant.QrApi(issued).GetAsync("/api/qr-templates-api")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await tenant.V1().PostJsonAsync("/v1/api-keys", new { name = "x", expires_at = "2001-01-01T00:00:00Z" })).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await tenant.V1().PostJsonAsync("/v1/api-keys", new { name = "x", scope = "god" })).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await tenant.V1().PostJsonAsync("/v1/api-keys", new { scope = "workspace" })).StatusCode);
        var editor = tenant.V1(await tenant.MemberKeyAsync(Role.Editor));
        Assert.Equal(HttpStatusCode.Forbidden, (await editor.PostJsonAsync("/v1/api-keys", new { name = "x" })).StatusCode);
    }
}

internal static class ResponseText
{
    public static Task<string> GetAsync(this HttpResponseMessage response) => response.Content.ReadAsStringAsync();
}

public class UsageExportTests(TestService service) : IClassFixture<TestService>
{
    [Fact]
    public async Task TheBillingExportHasOneLinePerDayTeamKeyAndEndpoint()
    {
        var tenant = await service.NewTenantAsync();
        for (var i = 0; i < 3; i++) (await tenant.QrApi().GetAsync("/api/qr-templates-api")).EnsureSuccessStatusCode();
        (await tenant.QrApi().GetAsync("/api/qrs-api/v2/teams")).EnsureSuccessStatusCode();
        await service.Get<UsageMeter>().FlushAsync(CancellationToken.None);
        var today = DateTime.UtcNow.ToString("yyyy-MM-dd");
        var lines = await UsageMeter.DetailAsync(service.Storage, tenant.OrgId, today, today, CancellationToken.None);
        Assert.Contains($"{today},{tenant.TeamId},{tenant.OwnerKey.KeyId},TemplatesList,3", lines);
        Assert.Contains($"{today},{tenant.TeamId},{tenant.OwnerKey.KeyId},QrsList,1", lines);
    }
}
