using Microsoft.AspNetCore.Http;
using Microsoft.Azure.Functions.Worker;
using QrFunctions.Api;
using QrFunctions.Auth;
using QrFunctions.Hosting;
using Xunit;

namespace QrFunctions.Tests.Hosting;

/// <summary>What the catalog refuses when the app starts, so no function is served with a policy nobody declared.</summary>
public class FunctionCatalogTests
{
    public sealed class Undeclared
    {
        [Function("Undeclared")]
        public IResult Get([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "undeclared")] HttpRequest req) => Results.Ok();
    }

    [ApiAccess(ApiSurface.V1)]
    public sealed class KeyedByTheHost
    {
        [Function("KeyedByTheHost")]
        public IResult Get([HttpTrigger(AuthorizationLevel.Function, "get", Route = "keyed")] HttpRequest req) => Results.Ok();
    }

    [ApiAccess(ApiSurface.V1)]
    public sealed class AnyMethod
    {
        [Function("AnyMethod")]
        public IResult Get([HttpTrigger(AuthorizationLevel.Anonymous, Route = "any")] HttpRequest req) => Results.Ok();
    }

    [ApiAccess(ApiSurface.V1)]
    public sealed class QueryParameter
    {
        [Function("QueryParameter")]
        public IResult Get([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "things")] HttpRequest req, string id) => Results.Ok(id);
    }

    [Public]
    public sealed class PublicWithRole
    {
        [Function("PublicWithRole"), Requires(Role.Admin)]
        public IResult Get([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "public")] HttpRequest req) => Results.Ok();
    }

    [ApiAccess(ApiSurface.QrApi)]
    public sealed class TeamNotInRoute
    {
        [Function("TeamNotInRoute"), TeamFromRoute("id", 400, "Team not found")]
        public IResult Get([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "teams")] HttpRequest req) => Results.Ok();
    }

    [ApiAccess(ApiSurface.QrApi, Role.Editor)]
    public sealed class Declared
    {
        [Function("Declared")]
        public IResult Get([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "teams/{id}")] HttpRequest req, string id) => Results.Ok(id);

        [Function("declared")]
        public IResult Again([HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "teams/{id}")] HttpRequest req) => Results.Ok();
    }

    /// <summary>"Other" sorts after the catch-all, so the host would never run it: every path under things/ is the catch-all's.</summary>
    [ApiAccess(ApiSurface.V1)]
    public sealed class ShadowedByACatchAll
    {
        [Function("Catch")]
        public IResult All([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "things/{*rest}")] HttpRequest req) => Results.Ok();

        [Function("Other")]
        public IResult Get([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "things/one")] HttpRequest req) => Results.Ok();
    }

    [Theory]
    [InlineData(typeof(ShadowedByACatchAll), "catch-alls must sort last")]
    [InlineData(typeof(Undeclared), "neither [ApiAccess] nor [Public]")]
    [InlineData(typeof(KeyedByTheHost), "Anonymous")]
    [InlineData(typeof(AnyMethod), "explicit methods")]
    [InlineData(typeof(QueryParameter), "not a route value")]
    [InlineData(typeof(PublicWithRole), "cannot require")]
    [InlineData(typeof(TeamNotInRoute), "not in its route")]
    [InlineData(typeof(Declared), "share a name")]
    public void AFunctionThatDoesNotSayWhoMayCallItOrCannotBeServedAlikeIsRefused(Type type, string why)
    {
        var refused = Assert.Throws<InvalidOperationException>(() => new FunctionCatalog([type]));
        Assert.Contains(why, refused.Message);
    }

    [Fact]
    public void AClassDeclarationAppliesToItsFunctionsAndAMethodsRaisesTheRole()
    {
        var function = Assert.Single(new FunctionCatalog([typeof(QrFunctions.Qrs.QrsApi)]).HttpFunctions, f => f.Name == "QrsCreate");
        Assert.Equal(new FunctionAccess(ApiSurface.QrApi, false, Role.Editor, null, false, false), function.Access);
        var list = FunctionCatalog.App.FindHttp("QrsList")!;
        Assert.Equal(Role.Viewer, list.Access.Least);
        Assert.True(FunctionCatalog.App.FindHttp("QrsAvailability")!.Access is { IsPublic: true, LimitedPerClientAddress: true });
    }

    [Fact]
    public void TheAppsCatalogListsHttpFunctionsInTheHostsOrder() =>
        Assert.Equal(FunctionCatalog.App.HttpFunctions.Select(f => f.Name).Order(StringComparer.OrdinalIgnoreCase), FunctionCatalog.App.HttpFunctions.Select(f => f.Name));
}
