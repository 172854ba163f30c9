using System.Text.Json;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using QrFunctions.Hosting;
using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Hosting;

public class OpenApiTests(TestService service) : IClassFixture<TestService>
{
    [Fact]
    public async Task EveryRouteOfTheTableIsInTheOpenApiDocumentWithItsMethods()
    {
        var response = await service.Anonymous().GetAsync("/openapi/v1.json");
        response.EnsureSuccessStatusCode();
        var paths = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("paths");

        var functions = FunctionManifest.HttpFunctions(FunctionManifest.RouteTable(service.App))
            .Where(f => f.Name != "OpenApiDocument").ToList();
        Assert.NotEmpty(functions);
        foreach (var f in functions)
        {
            // OpenAPI writes parameters without constraints: {fromTime:long} → {fromTime}.
            var path = "/" + System.Text.RegularExpressions.Regex.Replace(f.Route, @"\{(\w+)(:[^}]*)?\}", "{$1}");
            var found = paths.EnumerateObject().FirstOrDefault(p => p.Name.TrimEnd('/') == path.TrimEnd('/'));
            Assert.True(found.Value.ValueKind == JsonValueKind.Object, $"{f.Name}: {path} is not in the OpenAPI document");
            foreach (var method in f.Methods)
                Assert.True(found.Value.TryGetProperty(method, out _), $"{f.Name}: {method.ToUpperInvariant()} {path} is not in the OpenAPI document");
        }
    }
}
