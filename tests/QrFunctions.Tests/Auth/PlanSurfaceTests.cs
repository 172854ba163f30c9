using System.Net;
using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Auth;

/// <summary>Seed 000: the QR-code API needs Business Plus or higher; seed 002's organizations API comes with the paid plans.</summary>
public class PlanSurfaceTests(TestService service) : IClassFixture<TestService>
{
    [Theory]
    [InlineData("Free", false, false)]
    [InlineData("Pro", false, true)]
    [InlineData("Business", false, true)]
    [InlineData("Business Plus", true, true)]
    [InlineData("Legendary", true, true)]
    [InlineData("Agency", true, true)]
    [InlineData("Premium", true, true)]
    [InlineData("Enterprise", true, true)]
    public async Task EachPlanReachesTheSurfacesTheSeedsGiveIt(string plan, bool qrApi, bool organizationsApi)
    {
        var tenant = await service.NewTenantAsync(plan);

        var codes = await tenant.QrApi().GetAsync("/api/qrs-api/v2/teams");
        var workspaces = await tenant.V1().GetAsync("/v1/workspaces");

        Assert.Equal(qrApi ? HttpStatusCode.OK : HttpStatusCode.Forbidden, codes.StatusCode);
        Assert.Equal(organizationsApi ? HttpStatusCode.OK : HttpStatusCode.Forbidden, workspaces.StatusCode);
        if (!qrApi)
        {
            var message = await codes.ErrorAsync(HttpStatusCode.Forbidden, "Business Plus plan or higher");
            Assert.Contains($"on the {plan} plan", message);
        }
        if (!organizationsApi)
        {
            var error = (await workspaces.BodyAsync()).GetProperty("error");
            Assert.Equal("forbidden", error.GetProperty("code").GetString());
            Assert.Contains("Pro plan or higher", error.GetProperty("message").GetString());
        }
    }
}
