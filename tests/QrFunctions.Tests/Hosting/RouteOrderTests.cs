using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.AspNetCore.Routing.Template;
using Microsoft.AspNetCore.TestHost;
using QrFunctions.Hosting;
using QrFunctions.Storage;
using Xunit;

namespace QrFunctions.Tests.Hosting;

/// <summary>
/// The Functions host matches a request against its functions in name order (OrdinalIgnoreCase) and takes the first
/// whose route template and methods fit; literals are not preferred over parameters. ASP.NET Core prefers literals.
/// The development server maps functions with the host's order, so both must send every path to the same function,
/// and every function must be reachable at its own route.
/// </summary>
public sealed class RouteOrderTests : IAsyncLifetime
{
    private WebApplication _app = null!;
    private HttpClient _client = null!;

    /// <summary>The development server's routes with a middleware after routing that only says which function matched.</summary>
    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        builder.Configuration["AzureWebJobsStorage"] = StorageConnection.AzuriteConnectionString; // never called: nothing runs
        builder.Services.AddQrFunctions(builder.Configuration);
        _app = builder.Build();
        _app.UseRouting();
        _app.Use((HttpContext context, RequestDelegate _) =>
        {
            context.Response.Headers["x-function"] = context.GetEndpoint()?.Metadata.GetMetadata<HttpFunction>()?.Name ?? "(none)";
            return Task.CompletedTask;
        });
        DevelopmentServer.MapFunctions(_app, FunctionCatalog.App);
        await _app.StartAsync();
        _client = _app.GetTestClient();
    }

    public async Task DisposeAsync() => await _app.DisposeAsync();

    public static TheoryData<string> Functions => [.. FunctionCatalog.App.HttpFunctions.Select(f => f.Name)];

    [Theory]
    [MemberData(nameof(Functions))]
    public async Task EachFunctionIsReachedAtItsOwnRouteUnderTheHostsOrderAndInTheDevelopmentServer(string name)
    {
        var function = FunctionCatalog.App.FindHttp(name)!;
        // A catch-all's own path has several segments: one segment is a scan, which the catch-all must not take.
        var path = Path(function.Pattern, _ => function.IsCatchAll ? "sample-1/sample-2" : "sample-1");
        foreach (var method in function.Methods)
        {
            Assert.Equal(name, HostChoice(path, method));
            Assert.Equal(name, await DevelopmentServerChoiceAsync(path, method));
        }
    }

    /// <summary>
    /// Parameters spelled like another route's literal at that position (/api/qrs-api/duplicate/approve, /invite/unlock …) are
    /// where literal-first and first-by-name disagree; whatever the host picks, the development server must pick too.
    /// </summary>
    [Theory]
    [MemberData(nameof(Functions))]
    public async Task PathsWhoseParametersSpellAnotherRoutesLiteralsReachTheSameFunctionInBoth(string name)
    {
        var function = FunctionCatalog.App.FindHttp(name)!;
        var segments = function.Pattern.PathSegments;
        var choices = segments.Select((s, i) => s.Parts[0] is RoutePatternParameterPart ? LiteralsAt(i).Append("sample-1").ToList() : [""]).ToList();
        foreach (var values in Combinations(choices))
        {
            var path = Path(function.Pattern, i => values[i]);
            foreach (var method in function.Methods)
                Assert.True(HostChoice(path, method) == await DevelopmentServerChoiceAsync(path, method), $"{method.ToUpperInvariant()} {path}");
        }
    }

    /// <summary>HEAD is not implied by GET: a GET-only path under /api is the catch-all's (which answers 405), as under the host.</summary>
    [Fact]
    public async Task HeadIsServedOnlyWhereAFunctionListsIt()
    {
        Assert.Equal("Scan", await DevelopmentServerChoiceAsync("/sample-1", "head"));
        Assert.Equal("ZzUnmatchedApi", await DevelopmentServerChoiceAsync("/api/qr-templates-api", "head"));
        Assert.Equal("ZzUnmatchedApi", HostChoice("/api/qr-templates-api", "head"));
    }

    /// <summary>
    /// The host answers a path no function matches with its own empty 404, so each surface has a catch-all function; its name
    /// sorts after every other, so under first-match-by-name it only gets what no other function serves.
    /// </summary>
    [Theory]
    [InlineData("/api/nothing-here", "get", "ZzUnmatchedApi")]
    [InlineData("/api/qrs-api/a/b/c/d", "post", "ZzUnmatchedApi")]
    [InlineData("/api/qr-templates-api", "delete", "ZzUnmatchedApi")]
    [InlineData("/api/qrs-api/v2/teams", "get", "QrsList")]
    [InlineData("/v1", "post", "ZzUnmatchedV1")]
    [InlineData("/v1/nothing/here", "patch", "ZzUnmatchedV1")]
    [InlineData("/v1/usage", "put", "ZzUnmatchedV1")]
    [InlineData("/v1/usage", "get", "UsageGet")]
    [InlineData("/api", "get", "Scan")]
    [InlineData("/AggregateScans", "post", "ZzzUnmatchedPath")]
    [InlineData("/a/b/c", "get", "ZzzUnmatchedPath")]
    [InlineData("/some-code", "delete", "ZzzUnmatchedPath")]
    [InlineData("/some-code", "head", "Scan")]
    public async Task PathsNoOtherFunctionServesReachTheirSurfacesCatchAllInBoth(string path, string method, string expected)
    {
        Assert.Equal(expected, HostChoice(path, method));
        Assert.Equal(expected, await DevelopmentServerChoiceAsync(path, method));
    }

    [Fact]
    public void TheCatchAllsComeLastInTheHostsOrder() =>
        Assert.Equal(["ZzUnmatchedApi", "ZzUnmatchedV1", "ZzzUnmatchedPath"], FunctionCatalog.App.HttpFunctions.TakeLast(3).Select(f => f.Name));

    /// <summary>The function the host runs: the first by name whose template matches and whose methods include the request's.</summary>
    private static string HostChoice(string path, string method) =>
        FunctionCatalog.App.HttpFunctions.OrderBy(f => f.Name, StringComparer.OrdinalIgnoreCase)
            .FirstOrDefault(f => f.Methods.Contains(method) && new TemplateMatcher(TemplateParser.Parse(f.Route), new RouteValueDictionary()).TryMatch(path, new RouteValueDictionary()))?.Name ?? "(none)";

    private async Task<string> DevelopmentServerChoiceAsync(string path, string method)
    {
        var response = await _client.SendAsync(new HttpRequestMessage(new HttpMethod(method.ToUpperInvariant()), path));
        return response.Headers.TryGetValues("x-function", out var values) ? values.Single() : "(none)";
    }

    private static IEnumerable<string> LiteralsAt(int index) => FunctionCatalog.App.HttpFunctions
        .Select(f => f.Pattern.PathSegments.ElementAtOrDefault(index))
        .Where(s => s is { IsSimple: true } && s.Parts[0] is RoutePatternLiteralPart)
        .Select(s => ((RoutePatternLiteralPart)s!.Parts[0]).Content).Distinct();

    private static string Path(RoutePattern pattern, Func<int, string> parameterValue) =>
        "/" + string.Join('/', pattern.PathSegments.Select((s, i) => s.Parts[0] switch
        {
            RoutePatternParameterPart => parameterValue(i),
            _ => string.Concat(s.Parts.OfType<RoutePatternLiteralPart>().Select(l => l.Content)),
        }));

    private static IEnumerable<string[]> Combinations(List<List<string>> choices) =>
        choices.Aggregate((IEnumerable<string[]>)[[]], (acc, options) => acc.SelectMany(prefix => options.Select(o => prefix.Append(o).ToArray())));
}
