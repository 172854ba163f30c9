using System.Net;
using System.Text.Json;
using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Auth;

public class CredentialTests(TestService service) : IClassFixture<TestService>
{
    [Fact]
    public async Task MissingCredentialsAreRefusedWithTheContractMessage()
    {
        var response = await service.Anonymous().GetAsync("/api/qr-templates-api");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.False(body.GetProperty("success").GetBoolean());
        Assert.Equal("Invalid credentials!", body.GetProperty("message").GetString());
    }

    [Fact]
    public async Task WrongSecretIsUnauthorized()
    {
        var tenant = await service.NewTenantAsync();
        var client = tenant.QrApi(tenant.OwnerKey with { Secret = "not-the-secret" });
        var response = await client.GetAsync("/api/qr-templates-api");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task SurfaceBErrorsUseTheErrorEnvelope()
    {
        var response = await service.Anonymous().GetAsync("/v1/organizations");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("unauthorized", body.GetProperty("error").GetProperty("code").GetString());
    }
}
