using System.Net.Http.Headers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using QrFunctions.Auth;
using QrFunctions.Hosting;
using QrFunctions.Organizations;
using QrFunctions.Storage;
using QrFunctions.Teams;
using Xunit;

namespace QrFunctions.Tests.Infrastructure;

/// <summary>
/// The real app (the development server: every [Function] under the same policy as under the Functions host)
/// on an in-memory server against real Azurite, with its own table/queue/container names
/// (a random prefix), so test classes run in parallel and delete everything they made. One per test
/// class (IClassFixture); tests create their own organizations so none depends on another's data.
/// </summary>
public class TestService : IAsyncLifetime
{
    public string Prefix { get; } = "t" + Ids.Random(10).Replace('_', 'x');
    public WebApplication App { get; private set; } = null!;
    public StorageAccount Storage => App.Services.GetRequiredService<StorageAccount>();
    public T Get<T>() where T : notnull => App.Services.GetRequiredService<T>();

    /// <summary>Extra configuration a test class needs (e.g. turning the local queue poller on).</summary>
    protected virtual IEnumerable<string> Settings => [];

    /// <summary>
    /// False: the app listens on Kestrel at <see cref="ListeningAt"/> (a free 127.0.0.1 port) instead of the in-memory
    /// server, for clients that need a real socket (a browser); <see cref="Anonymous"/> then connects there.
    /// </summary>
    protected virtual bool InMemory => true;

    /// <summary>Where the app listens when it is not <see cref="InMemory"/>.</summary>
    public Uri ListeningAt { get; } = new($"http://127.0.0.1:{FreePort()}/");

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Services registered before the app's own (e.g. test doubles for seams the app fills with TryAdd).</summary>
    protected virtual void ConfigureServices(IServiceCollection services) { }

    public virtual async Task InitializeAsync()
    {
        var connection = Environment.GetEnvironmentVariable("AzureWebJobsStorage") ?? StorageConnection.AzuriteConnectionString;
        string[] args =
        [
            $"--Storage:Prefix={Prefix}",
            $"--AzureWebJobsStorage={connection}",
            "--QrFunctions:LocalQueuePolling=false",
            "--QrFunctions:PublicBaseUrl=https://scan.test/",
            "--Logging:LogLevel:Default=Warning",
            // A development key for webhook signing secrets, new for every test class (docs/webhooks.md).
            $"--Webhooks:SecretKeys:test={Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32))}",
            .. Settings,
            .. InMemory ? Array.Empty<string>() : [$"--PORT={ListeningAt.Port}"],
        ];
        App = DevelopmentServer.Build(args, b =>
        {
            if (InMemory) b.WebHost.UseTestServer();
            ConfigureServices(b.Services);
        });
        await Storage.CreateAllAsync();
        await App.StartAsync();
    }

    public virtual async Task DisposeAsync()
    {
        await App.StopAsync();
        await Storage.DeleteAllAsync();
        await App.DisposeAsync();
    }

    /// <summary>A new instance of a function class, as the worker makes one per invocation.</summary>
    public T Create<T>() where T : notnull => ActivatorUtilities.CreateInstance<T>(App.Services);

    /// <summary>Runs the queue function until its queue is empty, as the development server's poller would (same handler, same poison rule).</summary>
    public async Task DrainQueueAsync(string functionName, int maxRounds = 100)
    {
        var function = FunctionCatalog.App.QueueFunctions.Single(f => f.Name == functionName);
        var queue = Storage.Queue(Storage.Names.QueueOf(function.Queue));
        var poison = Storage.Queue(StorageNames.PoisonQueueOf(queue.Name));
        var handle = LocalQueuePoller.Handler(function, App.Services);
        for (var i = 0; i < maxRounds && await LocalQueuePoller.DrainOnceAsync(queue, poison, handle, functionName, CancellationToken.None) > 0; i++) { }
    }

    /// <summary>A client with no credentials (availability, scans, 401 cases).</summary>
    public HttpClient Anonymous()
    {
        if (!InMemory) return new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = ListeningAt };
        var client = App.GetTestClient();
        client.BaseAddress = new Uri("http://127.0.0.1/");
        return client;
    }

    /// <summary>A new organization with one team and its owner's key.</summary>
    /// <param name="overrides">Plan overrides JSON (e.g. a higher rate so a test of another limit is not throttled).</param>
    public async Task<Tenant> NewTenantAsync(string plan = "Enterprise", string? overrides = null)
    {
        var created = await OrganizationSetup.CreateAsync(Storage, Get<PlanCatalog>(), "Org " + Ids.Random(6), "org-" + Ids.Random(10), plan, null,
            $"owner-{Ids.Random(6)}@example.test", "Owner", "test");
        if (overrides is not null)
        {
            var org = (await Storage.Orgs.GetEntityAsync<Organization>(created.Organization.Id, Organization.Row)).Value;
            org.PlanOverrides = overrides;
            await Storage.Orgs.UpdateEntityAsync(org, org.ETag);
        }
        return new Tenant(this, created.Organization.Id, created.Team.Id, created.OwnerEmail, created.OwnerKey);
    }
}

/// <summary>An organization made for one test, with helpers to call the API as its members.</summary>
public sealed record Tenant(TestService Service, string OrgId, string TeamId, string OwnerEmail, IssuedKey OwnerKey)
{
    /// <summary>Surface A headers: team id, client id, client secret.</summary>
    public HttpClient QrApi(IssuedKey? key = null, string? teamId = null)
    {
        var client = Service.Anonymous();
        key ??= OwnerKey;
        client.DefaultRequestHeaders.Add(AccessPolicy.TeamHeader, teamId ?? TeamId);
        client.DefaultRequestHeaders.Add(AccessPolicy.ClientIdHeader, key.KeyId);
        client.DefaultRequestHeaders.Add(AccessPolicy.ClientSecretHeader, key.Secret);
        return client;
    }

    /// <summary>Surface B: Authorization: Bearer qr3_sk_….</summary>
    public HttpClient V1(IssuedKey? key = null, string? teamId = null)
    {
        var client = Service.Anonymous();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (key ?? OwnerKey).BearerToken);
        if (teamId is not null) client.DefaultRequestHeaders.Add(AccessPolicy.TeamHeader, teamId);
        return client;
    }

    /// <summary>Invites a person to the team through the API (as the owner); returns their email.</summary>
    public async Task<string> InviteAsync(Role role, string? teamId = null, string? email = null)
    {
        teamId ??= TeamId;
        email ??= $"{Roles.Name(role)}-{Ids.Random(6)}@example.test".ToLowerInvariant();
        var response = await QrApi(teamId: teamId).PutAsync($"/api/teams-api/{teamId}/members", ApiCalls.Json(new { name = email, email, role = Roles.Name(role) }));
        Assert.True(response.IsSuccessStatusCode, $"inviting {email}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return email;
    }

    /// <summary>
    /// Accepts the newest invitation mailed to <paramref name="email"/> the way its recipient does: the SendEmail function
    /// delivers the mail, the link's token is posted; returns the personal key the acceptance hands out.
    /// </summary>
    public async Task<IssuedKey> AcceptInvitationAsync(string email)
    {
        await Service.DrainQueueAsync("SendEmail");
        var mail = (await QrFunctions.Email.EmailSender.RecentAsync(Service.Storage, email)).First(m => m.GetString("Text")?.Contains("/invite/") == true);
        var token = System.Text.RegularExpressions.Regex.Match(mail.GetString("Text") ?? "", @"/invite/(\S+)").Groups[1].Value;
        var data = await Service.Anonymous().PostAsync($"/api/invites/{token}/accept", null).DataAsync();
        return new IssuedKey(data.GetProperty("clientId").GetString()!, data.GetProperty("clientSecret").GetString()!);
    }

    /// <summary>A member made through the API as a person becomes one (invited, mail delivered, link accepted), with their own key.</summary>
    public async Task<(string Email, IssuedKey Key)> JoinedMemberAsync(Role role, string? teamId = null)
    {
        var email = await InviteAsync(role, teamId);
        return (email, await AcceptInvitationAsync(email));
    }

    /// <summary>Adds an active member with <paramref name="role"/> to the team and returns a key acting as them.</summary>
    public async Task<IssuedKey> MemberKeyAsync(Role role, string? teamId = null, string status = "active")
    {
        teamId ??= TeamId;
        var email = $"{Roles.Name(role)}-{Ids.Random(6)}@example.test";
        var now = Clock.NowMs();
        await Service.Storage.TeamData.AddEntityAsync(new Membership
        {
            PartitionKey = teamId, RowKey = Membership.RowOf(email), Name = email, Role = Roles.Name(role), Status = status, CreatedAt = now, UpdatedAt = now,
        });
        await Service.Storage.Users.UpsertEntityAsync(new UserTeam { PartitionKey = email, RowKey = UserTeam.RowPrefix + teamId, OrgId = OrgId });
        return await QrFunctions.ApiKeys.PersonalKeys.IssueAsync(Service.Storage, OrgId, teamId, email, "test key", "test", null);
    }
}
