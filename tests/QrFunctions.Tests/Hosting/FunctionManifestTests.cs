using System.Text.Json;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using QrFunctions.Hosting;
using QrFunctions.Storage;
using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Hosting;

public class FunctionManifestTests(TestService service) : IClassFixture<TestService>
{
    private EndpointDataSource Endpoints => FunctionManifest.RouteTable(service.App);

    [Fact]
    public void EveryEndpointAndQueueTriggerHasExactlyOneFunctionJsonMatchingTheRouteTable()
    {
        var dir = Directory.CreateTempSubdirectory("manifest").FullName;
        try
        {
            FunctionManifest.Write(dir, Endpoints, Triggers.All);
            var folders = Directory.GetDirectories(dir).Select(Path.GetFileName).ToHashSet();
            var routeEndpoints = Endpoints.Endpoints.OfType<RouteEndpoint>()
                .Where(e => e.Metadata.GetMetadata<NotAFunction>() is null && e.Metadata.GetMetadata<QueueTrigger>() is null).ToList();
            Assert.NotEmpty(routeEndpoints);
            Assert.Equal(routeEndpoints.Count + Triggers.All.Count, folders.Count);

            foreach (var endpoint in routeEndpoints)
            {
                var name = endpoint.Metadata.GetMetadata<IEndpointNameMetadata>()!.EndpointName;
                Assert.Contains(name, folders);
                Assert.Single(Directory.GetFiles(Path.Combine(dir, name)));
                var binding = ReadBindings(dir, name)[0];
                Assert.Equal("httpTrigger", binding.GetProperty("type").GetString());
                Assert.Equal("anonymous", binding.GetProperty("authLevel").GetString());
                Assert.Equal(endpoint.RoutePattern.RawText!.TrimStart('/'), binding.GetProperty("route").GetString());
                var methods = binding.GetProperty("methods").EnumerateArray().Select(m => m.GetString()!.ToUpperInvariant()).Order().ToList();
                Assert.Equal(endpoint.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.IHttpMethodMetadata>()!.HttpMethods.Order().ToList(), methods);
            }

            var unprefixed = new StorageNames();
            foreach (var trigger in Triggers.All)
            {
                var binding = ReadBindings(dir, trigger.Name)[0];
                Assert.Equal("queueTrigger", binding.GetProperty("type").GetString());
                Assert.Equal(trigger.Queue(unprefixed), binding.GetProperty("queueName").GetString());
                Assert.Equal("AzureWebJobsStorage", binding.GetProperty("connection").GetString());
                Assert.Equal(QueueInvocationEndpoints.BindingName, binding.GetProperty("name").GetString());
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void FunctionNamesAreValidAzureFunctionNames()
    {
        var names = FunctionManifest.HttpFunctions(Endpoints).Select(f => f.Name).Concat(Triggers.All.Select(t => t.Name)).ToList();
        Assert.All(names, n => Assert.Matches("^[A-Za-z][A-Za-z0-9]{0,126}$", n));
        Assert.Equal(names.Count, names.Distinct(StringComparer.OrdinalIgnoreCase).Count());
    }

    [Fact]
    public void CommittedHostJsonIsTheGeneratedOne()
    {
        var committed = File.ReadAllText(Path.Combine(RepoPaths.Root, "host.json"));
        Assert.True(FunctionManifest.Serialize(FunctionManifest.HostJson()) == committed,
            "host.json differs from the generated one: run `dotnet run --project functions/QrFunctions -- functions-manifest /tmp/m && cp /tmp/m/host.json .`");
    }

    [Fact]
    public void HostJsonProxiesHttpAtTheRootAndDecodesQueueMessagesAsTheAppWritesThem()
    {
        var host = FunctionManifest.HostJson();
        Assert.True(host["customHandler"]!["enableProxyingHttpRequest"]!.GetValue<bool>());
        Assert.Equal("", host["extensions"]!["http"]!["routePrefix"]!.GetValue<string>());
        Assert.Equal("base64", host["extensions"]!["queues"]!["messageEncoding"]!.GetValue<string>());
        Assert.Equal(QueueSettings.MaxDequeueCount, host["extensions"]!["queues"]!["maxDequeueCount"]!.GetValue<int>());
        Assert.Equal(FunctionManifest.ExecutableName, host["customHandler"]!["description"]!["defaultExecutablePath"]!.GetValue<string>());
    }

    private static List<JsonElement> ReadBindings(string dir, string name) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, name, "function.json"))).RootElement.GetProperty("bindings").EnumerateArray().ToList();
}
