using System.Net;
using System.Text.Json;
using QrFunctions.Auth;
using QrFunctions.Storage;
using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Billing;

/// <summary>A clock tests move by hand, so limiter behaviour is checked without timing anything.</summary>
public sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = start;
    public override DateTimeOffset GetUtcNow() => Now;
}

public class RateLimitTests(TestService service) : IClassFixture<TestService>
{
    [Fact]
    public async Task AuthenticatedAnswersCarryRateLimitHeadersAndABurstOverThePlanIs429WithRetryAfter()
    {
        // Business Plus allows bursts of 5; the refill is slowed to one token per 20 s so a slow machine cannot refill during the test.
        var tenant = await service.NewTenantAsync("Business Plus", """{"requestsPerSecond":0.05,"burst":5}""");
        var client = tenant.QrApi();
        var first = await client.GetAsync("/api/qr-templates-api");
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal("5", first.Headers.GetValues("X-RateLimit-Limit").Single());
        Assert.True(int.Parse(first.Headers.GetValues("X-RateLimit-Remaining").Single()) <= 4);
        Assert.True(long.Parse(first.Headers.GetValues("X-RateLimit-Reset").Single()) >= DateTimeOffset.UtcNow.ToUnixTimeSeconds());

        var answers = new List<HttpResponseMessage>();
        for (var i = 0; i < 10; i++) answers.Add(await client.GetAsync("/api/qr-templates-api"));
        var limited = answers.Where(a => a.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.NotEmpty(limited);
        Assert.True(answers.Count(a => a.StatusCode == HttpStatusCode.OK) <= 5, "more than a burst's worth admitted");
        var refusal = limited[0];
        Assert.True(int.Parse(refusal.Headers.GetValues("Retry-After").Single()) >= 1);
        var body = await refusal.BodyAsync();
        Assert.False(body.GetProperty("success").GetBoolean());
        Assert.Contains("Rate limit", body.GetProperty("message").GetString());

        // Surface B renders the same refusal in its envelope.
        var v1 = await tenant.V1().GetAsync("/v1/organizations");
        Assert.Equal(HttpStatusCode.TooManyRequests, v1.StatusCode);
        Assert.Equal("rate_limited", (await v1.BodyAsync()).GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task SeveralInstancesSharingOneBucketAdmitNoMoreThanItGives()
    {
        var table = service.Storage.Table(service.Storage.Names.RateLimits);
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        var instances = Enumerable.Range(0, 4).Select(_ => new TeamRateLimiter(table, clock)).ToList();
        var team = "ws_" + Ids.Random(12);
        const double rate = 20, burst = 20;

        async Task<int> HammerAsync() => (await Task.WhenAll(instances.Select(async limiter =>
        {
            var admitted = 0;
            for (var i = 0; i < 30; i++) if ((await limiter.AcquireAsync(team, rate, burst)).Admitted) admitted++;
            return admitted;
        }))).Sum();

        var atStart = await HammerAsync();
        Assert.InRange(atStart, 1, (int)burst); // 120 attempts, one bucket of 20
        clock.Now = clock.Now.AddMilliseconds(500);
        var halfSecondLater = await HammerAsync();
        Assert.InRange(halfSecondLater, 1, (int)(rate / 2)); // refilled 10 tokens, no more
        clock.Now = clock.Now.AddSeconds(10);
        var afterAPause = await HammerAsync();
        Assert.InRange(afterAPause, 1, (int)burst); // the bucket caps at its capacity however long the pause
    }

    [Fact]
    public async Task ThePublicAvailabilityCheckIsLimitedPerAddress()
    {
        var client = service.Anonymous();
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 80; i++) statuses.Add((await client.GetAsync($"/api/qrs-api/availability/probe-{i}")).StatusCode);
        Assert.Contains(HttpStatusCode.OK, statuses);
        Assert.Contains(HttpStatusCode.TooManyRequests, statuses);
    }
}

/// <summary>Its own app, so its per-address bucket is not the one the availability test above empties.</summary>
public class PasswordGuessLimitTests(TestService service) : IClassFixture<TestService>
{
    [Fact]
    public async Task PasswordGuessesAreLimitedPerAddressToo()
    {
        var client = service.Anonymous();
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 80; i++)
            statuses.Add((await client.PostAsync($"/guess-{i}/unlock", new FormUrlEncodedContent([new("password", "guess")]))).StatusCode);
        Assert.Contains(HttpStatusCode.NotFound, statuses); // no such code: the page says so, until the limit
        Assert.Contains(HttpStatusCode.TooManyRequests, statuses);
    }
}
