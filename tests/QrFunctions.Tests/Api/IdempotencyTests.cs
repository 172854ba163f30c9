using System.Net;
using System.Text.Json;
using Azure.Data.Tables;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.DependencyInjection;
using QrFunctions.Api;
using QrFunctions.Auth;
using QrFunctions.Hosting;
using QrFunctions.Storage;
using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Api;

/// <summary>
/// Idempotency-Key on credentialed POSTs (Stripe's semantics), through the policy runner every function runs under: a retry
/// gets the first answer again and nothing is done twice, another request with the key is a 422, a request that comes while
/// the first runs a 409; keys are per organization and last 24 hours.
/// </summary>
public class IdempotencyTests(TestService service) : IClassFixture<TestService>
{
    private static HttpRequestMessage Post(string path, object? body, string? key, string? contentType = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = body is null ? null : ApiCalls.Json(body) };
        if (key is not null) request.Headers.TryAddWithoutValidation(IdempotencyKeys.Header, key);
        return request;
    }

    private static string NewKey() => Guid.NewGuid().ToString();

    private async Task<int> CodesAsync(Tenant tenant)
    {
        var count = 0;
        await foreach (var _ in service.Storage.TeamData.QueryAsync<TableEntity>(TableQueries.PrefixFilter(tenant.TeamId, QrFunctions.Qrs.QrKeys.QrPrefix), select: ["RowKey"]))
            count++;
        return count;
    }

    private async Task<List<TableEntity>> RowsAsync(string scope)
    {
        var rows = new List<TableEntity>();
        await foreach (var row in service.Storage.Idempotency.QueryAsync<TableEntity>(e => e.PartitionKey == scope)) rows.Add(row);
        return rows;
    }

    private static async Task<(HttpStatusCode Status, string Body, HttpResponseMessage Response)> SendAsync(HttpClient client, HttpRequestMessage request)
    {
        var response = await client.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(), response);
    }

    private static string? Replayed(HttpResponseMessage response) =>
        response.Headers.TryGetValues(IdempotencyKeys.ReplayedHeader, out var values) ? values.Single() : null;

    [Fact]
    public async Task ARetriedCreateGetsTheFirstAnswerAgainAndMakesNoSecondCode()
    {
        var tenant = await service.NewTenantAsync();
        var client = tenant.QrApi();
        var key = NewKey();
        var body = new { qrType = "WEB", name = "Print run", qrRedirectUrl = "https://a.example/" };

        var first = await SendAsync(client, Post("/api/qrs-api", body, key));
        var retry = await SendAsync(client, Post("/api/qrs-api", body, key));

        Assert.Equal(HttpStatusCode.Created, first.Status);
        Assert.Null(Replayed(first.Response));
        Assert.Equal(HttpStatusCode.Created, retry.Status);
        Assert.Equal("true", Replayed(retry.Response));
        Assert.Equal(first.Body, retry.Body);
        Assert.Equal(first.Response.Content.Headers.ContentType, retry.Response.Content.Headers.ContentType);
        Assert.Equal("no-store", retry.Response.Headers.CacheControl?.ToString());
        Assert.Equal(1, await CodesAsync(tenant));

        // Without a key, the same body makes a second code: the key is what makes a retry safe.
        await client.PostAsync("/api/qrs-api", ApiCalls.Json(body)).DataAsync(HttpStatusCode.Created);
        Assert.Equal(2, await CodesAsync(tenant));
    }

    [Fact]
    public async Task ARetriedWorkspaceCreateOnTheOrganizationsApiIsReplayedToo()
    {
        var tenant = await service.NewTenantAsync();
        var client = tenant.V1();
        var key = NewKey();
        var body = new { name = "Agency " + Ids.Random(6), slug = "agency-" + Ids.Random(8).ToLowerInvariant().Replace('_', 'x') };

        var first = await SendAsync(client, Post("/v1/workspaces", body, key));
        var retry = await SendAsync(client, Post("/v1/workspaces", body, key));

        Assert.Equal(HttpStatusCode.Created, first.Status);
        Assert.Equal(HttpStatusCode.Created, retry.Status);
        Assert.Equal("true", Replayed(retry.Response));
        Assert.Equal(first.Body, retry.Body);
        var workspaces = (await (await client.GetAsync("/v1/workspaces")).BodyAsync()).GetProperty("data");
        Assert.Equal(2, workspaces.GetArrayLength()); // the first team and the one created once
    }

    [Fact]
    public async Task TheSameKeyForAnotherRequestIs422NamingWhatDiffers()
    {
        var tenant = await service.NewTenantAsync();
        var client = tenant.QrApi();
        var key = NewKey();
        await client.SendAsync(Post("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://a.example/" }, key)).DataAsync(HttpStatusCode.Created);

        var otherBody = await client.SendAsync(Post("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://b.example/" }, key));
        Assert.Contains("another body", await otherBody.ErrorAsync((HttpStatusCode)422, IdempotencyKeys.Header));
        var otherPath = await client.SendAsync(Post("/api/teams-api", new { name = "t" }, key));
        Assert.Contains("another method or path", await otherPath.ErrorAsync((HttpStatusCode)422));
        var editor = await tenant.MemberKeyAsync(Role.Editor);
        var otherCaller = await tenant.QrApi(editor).SendAsync(Post("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://a.example/" }, key));
        Assert.Contains("another API key", await otherCaller.ErrorAsync((HttpStatusCode)422));
        Assert.Equal(1, await CodesAsync(tenant));

        // Surface B names it in its own envelope.
        var v1Key = NewKey();
        await tenant.V1().SendAsync(Post("/v1/webhooks", new { url = "https://1.1.1.1/a", events = new[] { "codes.created" } }, v1Key));
        var conflict = await tenant.V1().SendAsync(Post("/v1/webhooks", new { url = "https://1.1.1.1/b", events = new[] { "codes.created" } }, v1Key));
        Assert.Equal((HttpStatusCode)422, conflict.StatusCode);
        var error = (await conflict.BodyAsync()).GetProperty("error");
        Assert.Equal("idempotency_key_reused", error.GetProperty("code").GetString());
        Assert.Contains("another body", error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task KeysAreScopedToTheOrganization()
    {
        var ours = await service.NewTenantAsync();
        var theirs = await service.NewTenantAsync();
        var key = NewKey();
        var body = new { qrType = "WEB", qrRedirectUrl = "https://a.example/" };

        var mine = await SendAsync(ours.QrApi(), Post("/api/qrs-api", body, key));
        var other = await SendAsync(theirs.QrApi(), Post("/api/qrs-api", body, key));
        var otherBody = await SendAsync(theirs.QrApi(), Post("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://z.example/" }, NewKey()));

        Assert.Equal(HttpStatusCode.Created, mine.Status);
        Assert.Equal(HttpStatusCode.Created, other.Status);
        Assert.Null(Replayed(other.Response)); // their own code, not ours replayed
        Assert.Equal(HttpStatusCode.Created, otherBody.Status);
        Assert.NotEqual(JsonDocument.Parse(mine.Body).RootElement.GetProperty("data").GetProperty("id").GetString(),
            JsonDocument.Parse(other.Body).RootElement.GetProperty("data").GetProperty("id").GetString());
        Assert.Equal(1, await CodesAsync(ours));
        Assert.Equal(2, await CodesAsync(theirs));
        Assert.Single(await RowsAsync(ours.OrgId));
    }

    [Fact]
    public async Task AnExpiredKeyIsIgnoredAndSweptAway()
    {
        var tenant = await service.NewTenantAsync();
        var client = tenant.QrApi();
        var key = NewKey();
        await client.SendAsync(Post("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://a.example/" }, key)).DataAsync(HttpStatusCode.Created);
        var row = Assert.Single(await RowsAsync(tenant.OrgId));
        Assert.InRange(row.GetInt64("ExpiresAt")!.Value - row.GetInt64("ClaimedAt")!.Value, (long)IdempotencyKeys.Lifetime.TotalMilliseconds - 1000, (long)IdempotencyKeys.Lifetime.TotalMilliseconds);

        // 24 hours later (the row's expiry moved into the past): the key is free again, even for another body.
        row["ExpiresAt"] = Clock.NowMs() - 1;
        await service.Storage.Idempotency.UpdateEntityAsync(row, row.ETag);
        var again = await SendAsync(client, Post("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://b.example/" }, key));
        Assert.Equal(HttpStatusCode.Created, again.Status);
        Assert.Null(Replayed(again.Response));
        Assert.Equal(2, await CodesAsync(tenant));

        // The sweep deletes expired rows of the organization and keeps the live ones.
        var other = NewKey();
        await client.SendAsync(Post("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://c.example/" }, other)).DataAsync(HttpStatusCode.Created);
        var rows = await RowsAsync(tenant.OrgId);
        var stale = rows.Single(r => r.RowKey == new IdempotentRequest("", other, "", "", "", "", "").Row);
        stale["ExpiresAt"] = Clock.NowMs() - 1;
        await service.Storage.Idempotency.UpdateEntityAsync(stale, stale.ETag);
        Assert.Equal(1, await service.Get<IdempotencyKeys>().SweepAsync(tenant.OrgId, CancellationToken.None));
        Assert.Equal([new IdempotentRequest("", key, "", "", "", "", "").Row], (await RowsAsync(tenant.OrgId)).Select(r => r.RowKey));
    }

    [Fact]
    public async Task ARefusalByTheFunctionIsRecordedButOneByThePolicyIsNot()
    {
        var tenant = await service.NewTenantAsync();
        var key = NewKey();
        var invalid = new { qrType = "NOPE", qrRedirectUrl = "https://a.example/" };

        // The function ran and refused (400): recorded, as Stripe does, so the retry gets the same refusal.
        var first = await SendAsync(tenant.QrApi(), Post("/api/qrs-api", invalid, key));
        var retry = await SendAsync(tenant.QrApi(), Post("/api/qrs-api", invalid, key));
        Assert.Equal(HttpStatusCode.BadRequest, first.Status);
        Assert.Equal(HttpStatusCode.BadRequest, retry.Status);
        Assert.Equal("true", Replayed(retry.Response));
        Assert.Equal(first.Body, retry.Body);
        // …and the key stays bound to that request.
        await tenant.QrApi().SendAsync(Post("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://a.example/" }, key)).ErrorAsync((HttpStatusCode)422, "another body");

        // Refused before the function ran (role too low, a key that is not one): nothing recorded, the key stays free.
        var viewer = await tenant.MemberKeyAsync(Role.Viewer);
        var refusedKey = NewKey();
        await tenant.QrApi(viewer).SendAsync(Post("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://a.example/" }, refusedKey)).ErrorAsync(HttpStatusCode.Forbidden);
        await tenant.QrApi().SendAsync(Post("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://a.example/" }, new string('k', 256)))
            .ErrorAsync(HttpStatusCode.BadRequest, IdempotencyKeys.Header);
        await tenant.QrApi().SendAsync(Post("/api/qrs-api", new { qrType = "WEB", qrRedirectUrl = "https://a.example/" }, "tab\there"))
            .ErrorAsync(HttpStatusCode.BadRequest, IdempotencyKeys.Header);
        Assert.Single(await RowsAsync(tenant.OrgId));
        Assert.Equal(0, await CodesAsync(tenant));
    }

    [Fact]
    public async Task ARequestWhileAnotherWithTheKeyIsUnderWayIs409AndAnAbandonedClaimIsTakenOver()
    {
        var tenant = await service.NewTenantAsync();
        var key = NewKey();
        var body = new { qrType = "WEB", qrRedirectUrl = "https://a.example/" };
        // A claim exactly as a request under way leaves it (its answer not written yet).
        var claimed = new IdempotentRequest(tenant.OrgId, key, "POST", "/api/qrs-api", tenant.TeamId, tenant.OwnerKey.KeyId, BodyHash(body));
        var claim = await service.Get<IdempotencyKeys>().ClaimAsync(claimed, CancellationToken.None);
        Assert.Null(claim.Replay);

        var busy = await tenant.QrApi().SendAsync(Post("/api/qrs-api", body, key));
        await busy.ErrorAsync(HttpStatusCode.Conflict, "still being processed");
        Assert.Equal("1", busy.Headers.RetryAfter?.ToString());
        Assert.Equal(0, await CodesAsync(tenant));

        // The instance that claimed it stopped: after the lease the next retry does the work.
        var row = Assert.Single(await RowsAsync(tenant.OrgId));
        row["ClaimedAt"] = Clock.NowMs() - (long)IdempotencyKeys.AbandonedAfter.TotalMilliseconds - 1;
        await service.Storage.Idempotency.UpdateEntityAsync(row, row.ETag);
        await tenant.QrApi().SendAsync(Post("/api/qrs-api", body, key)).DataAsync(HttpStatusCode.Created);
        var replay = await tenant.QrApi().SendAsync(Post("/api/qrs-api", body, key));
        Assert.Equal("true", Replayed(replay));
        Assert.Equal(1, await CodesAsync(tenant));
    }

    private static string BodyHash(object body) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(body)));

    [Fact]
    public async Task PublicPostsIgnoreTheKey()
    {
        var tenant = await service.NewTenantAsync();
        var response = await service.Anonymous().SendAsync(Post("/api/invites/nobody.nothing/accept", null, NewKey()));
        Assert.True((int)response.StatusCode is >= 400 and < 500);
        Assert.Null(Replayed(response));
        Assert.Empty(await RowsAsync(tenant.OrgId));
    }

    [Fact]
    public async Task StoredAnswersAreSealedSoTheTableDoesNotRevealANewKeysSecret()
    {
        var tenant = await service.NewTenantAsync();
        var key = NewKey();
        var created = await tenant.V1().SendAsync(Post("/v1/api-keys", new { name = "ci", scope = "user" }, key));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var secret = (await created.BodyAsync()).GetProperty("client_secret").GetString()!;

        var row = Assert.Single(await RowsAsync(tenant.OrgId));
        var stored = string.Concat(row.Where(p => p.Value is byte[]).Select(p => Convert.ToBase64String((byte[])p.Value!) + System.Text.Encoding.Latin1.GetString((byte[])p.Value!)));
        Assert.DoesNotContain(secret, stored);
        Assert.DoesNotContain(secret[^12..], stored);
        Assert.DoesNotContain(key, string.Join("|", row.Select(p => $"{p.Key}={p.Value}")));

        var replay = await tenant.V1().SendAsync(Post("/v1/api-keys", new { name = "ci", scope = "user" }, key));
        Assert.Equal("true", Replayed(replay));
        Assert.Contains(secret, await replay.Content.ReadAsStringAsync());
    }

    // ---- Functions that wait, fail or answer a lot, under the same policy runner (their own app over the same storage) ----

    public sealed class Gate
    {
        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public int Runs;
    }

    [ApiAccess(ApiSurface.QrApi, Role.Editor)]
    public sealed class TestFunctions(Gate gate)
    {
        [Function("TestSlow")]
        public async Task<IResult> SlowAsync([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "api/test/slow")] HttpRequest req)
        {
            var body = await RequestJson.ReadObjectAsync(req.HttpContext);
            var run = Interlocked.Increment(ref gate.Runs);
            gate.Entered.TrySetResult();
            await gate.Release.Task;
            req.HttpContext.Response.Headers.Location = "/api/test/slow/" + run;
            return Envelope.Ok(new { run, name = body["name"]?.GetValue<string>() }, 201);
        }

        /// <summary>Storage fails on the first call (503); the second works.</summary>
        [Function("TestFlaky")]
        public IResult Flaky([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "api/test/flaky")] HttpRequest req) =>
            Interlocked.Increment(ref gate.Runs) == 1 ? throw new Azure.RequestFailedException(503, "busy") : Envelope.Ok(new { run = gate.Runs }, 201);

        [Function("TestLarge")]
        public IResult Large([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "api/test/large")] HttpRequest req) =>
            Envelope.Ok(new { run = Interlocked.Increment(ref gate.Runs), padding = new string('x', IdempotencyKeys.MaxRecordedBodyBytes) }, 201);
    }

    private async Task<(WebApplication App, Gate Gate)> TestAppAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        builder.Configuration["Storage:Prefix"] = service.Prefix;
        builder.Configuration["AzureWebJobsStorage"] = Environment.GetEnvironmentVariable("AzureWebJobsStorage") ?? StorageConnection.AzuriteConnectionString;
        builder.Configuration["Logging:LogLevel:Default"] = "Error"; // the flaky function's 503 is logged as a warning
        var gate = new Gate();
        builder.Services.AddSingleton(gate);
        builder.Services.AddQrFunctions(builder.Configuration);
        var app = builder.Build();
        DevelopmentServer.MapFunctions(app, new FunctionCatalog([typeof(TestFunctions)]));
        await app.StartAsync();
        return (app, gate);
    }

    private static HttpClient Client(WebApplication app, Tenant tenant)
    {
        var client = app.GetTestClient();
        client.DefaultRequestHeaders.Add(AccessPolicy.ClientIdHeader, tenant.OwnerKey.KeyId);
        client.DefaultRequestHeaders.Add(AccessPolicy.ClientSecretHeader, tenant.OwnerKey.Secret);
        return client;
    }

    [Fact]
    public async Task OfTwoConcurrentRequestsWithOneKeyOneDoesTheWorkAndTheOtherGets409()
    {
        var (app, gate) = await TestAppAsync();
        await using var _ = app;
        var tenant = await service.NewTenantAsync();
        var client = Client(app, tenant);
        var key = NewKey();

        var first = SendAsync(client, Post("/api/test/slow", new { name = "a" }, key));
        await gate.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30)); // the first is inside the function now
        var pending = SendAsync(client, Post("/api/test/slow", new { name = "a" }, key));
        await Task.WhenAny(pending, Task.Delay(TimeSpan.FromSeconds(30))); // were it let in, it would wait at the gate too: bounded, not hung
        gate.Release.SetResult();
        var second = await pending;
        var done = await first;

        Assert.Equal(HttpStatusCode.Conflict, second.Status);
        Assert.Contains("still being processed", JsonDocument.Parse(second.Body).RootElement.GetProperty("message").GetString());
        Assert.Equal("1", second.Response.Headers.RetryAfter?.ToString());
        Assert.Equal(HttpStatusCode.Created, done.Status);
        Assert.Equal(1, gate.Runs);

        // The retry the 409 invited gets the first one's answer, with the headers the function set.
        var retry = await SendAsync(client, Post("/api/test/slow", new { name = "a" }, key));
        Assert.Equal(HttpStatusCode.Created, retry.Status);
        Assert.Equal("true", Replayed(retry.Response));
        Assert.Equal(done.Body, retry.Body);
        Assert.Equal("/api/test/slow/1", retry.Response.Headers.Location?.ToString());
        Assert.Equal(1, gate.Runs);
    }

    [Fact]
    public async Task AFailedAnswerReleasesTheKeySoTheRetryRunsAgain()
    {
        var (app, gate) = await TestAppAsync();
        await using var _ = app;
        var tenant = await service.NewTenantAsync();
        var client = Client(app, tenant);
        var key = NewKey();

        var failed = await SendAsync(client, Post("/api/test/flaky", new { }, key));
        var retried = await SendAsync(client, Post("/api/test/flaky", new { }, key));
        var replayed = await SendAsync(client, Post("/api/test/flaky", new { }, key));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, failed.Status);
        Assert.Equal(HttpStatusCode.Created, retried.Status);
        Assert.Null(Replayed(retried.Response));
        Assert.Equal("true", Replayed(replayed.Response));
        Assert.Equal(2, gate.Runs);
    }

    [Fact]
    public async Task AnAnswerTooLargeToKeepIsNotRecorded()
    {
        var (app, gate) = await TestAppAsync();
        await using var _ = app;
        var tenant = await service.NewTenantAsync();
        var client = Client(app, tenant);
        var key = NewKey();

        var first = await SendAsync(client, Post("/api/test/large", new { }, key));
        var second = await SendAsync(client, Post("/api/test/large", new { }, key));

        Assert.Equal(HttpStatusCode.Created, first.Status);
        Assert.True(first.Body.Length > IdempotencyKeys.MaxRecordedBodyBytes);
        Assert.Equal(HttpStatusCode.Created, second.Status);
        Assert.Null(Replayed(second.Response));
        Assert.Equal(2, gate.Runs);
        Assert.Empty(await RowsAsync(tenant.OrgId));
    }
}
