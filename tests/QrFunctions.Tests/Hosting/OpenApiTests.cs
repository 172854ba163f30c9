using System.Text.Json;
using QrFunctions.Hosting;
using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Hosting;

public class OpenApiTests(TestService service) : IClassFixture<TestService>
{
    [Fact]
    public async Task TheDocumentHasExactlyTheHttpFunctionsWithTheirMethodsAndNames()
    {
        var response = await service.Anonymous().GetAsync("/openapi/v1.json");
        response.EnsureSuccessStatusCode();
        var operations = Operations(JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement);

        var expected = FunctionCatalog.App.HttpFunctions
            .SelectMany(f => f.Methods.Select(m => (Path: OpenApiPath(f.Route), Method: m, f.Name))).Order().ToList();
        Assert.Equal(expected, operations);
    }

    [Fact]
    public async Task CredentialedOperationsNameTheSecuritySchemesAndPublicOnesNone()
    {
        var root = JsonDocument.Parse(await service.Anonymous().GetStringAsync("/openapi/v1.json")).RootElement;
        Assert.Equal(["bearer", "clientId", "clientSecret"], root.GetProperty("components").GetProperty("securitySchemes").EnumerateObject().Select(p => p.Name).Order());
        foreach (var f in FunctionCatalog.App.HttpFunctions)
        {
            var operation = root.GetProperty("paths").GetProperty(OpenApiPath(f.Route)).GetProperty(f.Methods[0]);
            Assert.Equal(!f.Access.IsPublic, operation.TryGetProperty("security", out _));
        }
    }

    [Fact]
    public async Task EveryCredentialedPostDocumentsTheIdempotencyKeyHeader()
    {
        var root = JsonDocument.Parse(await service.Anonymous().GetStringAsync("/openapi/v1.json")).RootElement;
        foreach (var f in FunctionCatalog.App.HttpFunctions)
            foreach (var method in f.Methods)
            {
                var operation = root.GetProperty("paths").GetProperty(OpenApiPath(f.Route)).GetProperty(method);
                var documented = operation.TryGetProperty("parameters", out var parameters) && parameters.EnumerateArray().Any(p => p.GetProperty("name").GetString() == IdempotencyKeys.Header && p.GetProperty("in").GetString() == "header");
                Assert.True(documented == (method == "post" && !f.Access.IsPublic), $"{f.Name} {method}");
            }
    }

    /// <summary>(path, method, operationId) of every operation in an OpenAPI document.</summary>
    public static List<(string Path, string Method, string Name)> Operations(JsonElement document) =>
        document.GetProperty("paths").EnumerateObject()
            .SelectMany(p => p.Value.EnumerateObject().Select(o => (p.Name, o.Name, o.Value.GetProperty("operationId").GetString()!)))
            .Order().ToList();

    /// <summary>A route as OpenAPI writes it: leading slash, parameters without constraints or catch-all marks.</summary>
    public static string OpenApiPath(string route) =>
        "/" + System.Text.RegularExpressions.Regex.Replace(route, @"\{\**(\w+)(:[^}]*)?\}", "{$1}");
}
