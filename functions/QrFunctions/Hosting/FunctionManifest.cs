using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Routing.Patterns;

namespace QrFunctions.Hosting;

/// <summary>
/// Generates the Functions host's files from the app's own route table: host.json and one
/// {FunctionName}/function.json per HTTP endpoint and per queue trigger. Nothing is written by hand,
/// so the host can never route a request the app does not serve, or miss one it does.
/// </summary>
public static class FunctionManifest
{
    public const string ExecutableName = "QrFunctions";

    /// <summary>An HTTP function: name, route template (no leading slash) and lowercase methods.</summary>
    public sealed record HttpFunction(string Name, string Route, IReadOnlyList<string> Methods);

    /// <summary>The app's route table as mapped (DI's EndpointDataSource is only filled once the app has started).</summary>
    public static EndpointDataSource RouteTable(WebApplication app) => new CompositeEndpointDataSource(((IEndpointRouteBuilder)app).DataSources);

    public static IReadOnlyList<HttpFunction> HttpFunctions(EndpointDataSource endpoints) =>
        endpoints.Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<QueueTrigger>() is null && e.Metadata.GetMetadata<NotAFunction>() is null)
            .Select(e => new HttpFunction(
                e.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName
                    ?? throw new InvalidOperationException($"Endpoint {e.RoutePattern.RawText} has no name (.WithName): it needs one to become a function."),
                RouteOf(e.RoutePattern),
                (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods
                    ?? throw new InvalidOperationException($"Endpoint {e.RoutePattern.RawText} accepts any method.")).Select(m => m.ToLowerInvariant()).ToList()))
            .OrderBy(f => f.Name, StringComparer.Ordinal)
            .ToList();

    /// <summary>The Functions host uses ASP.NET Core route templates too; only the leading slash goes.</summary>
    public static string RouteOf(RoutePattern pattern) => (pattern.RawText ?? "").TrimStart('/');

    public static JsonObject HostJson() => new()
    {
        ["version"] = "2.0",
        ["logging"] = new JsonObject
        {
            ["applicationInsights"] = new JsonObject { ["samplingSettings"] = new JsonObject { ["isEnabled"] = true, ["excludedTypes"] = "Request" } },
        },
        ["extensionBundle"] = new JsonObject
        {
            ["id"] = "Microsoft.Azure.Functions.ExtensionBundle",
            ["version"] = "[4.*, 5.0.0)",
        },
        ["customHandler"] = new JsonObject
        {
            ["description"] = new JsonObject
            {
                ["defaultExecutablePath"] = ExecutableName,
                ["workingDirectory"] = "",
                ["arguments"] = new JsonArray(),
            },
            // HTTP requests reach Kestrel as they are (path, headers, body), not wrapped in an invocation payload.
            ["enableProxyingHttpRequest"] = true,
        },
        ["extensions"] = new JsonObject
        {
            // "" so /api/…, /v1/… and the scan path /{displayId} are all served at the root.
            ["http"] = new JsonObject { ["routePrefix"] = "" },
            ["queues"] = new JsonObject
            {
                ["batchSize"] = QueueSettings.BatchSize,
                ["newBatchThreshold"] = QueueSettings.BatchSize / 2,
                ["maxDequeueCount"] = QueueSettings.MaxDequeueCount,
                ["visibilityTimeout"] = QueueSettings.VisibilityTimeout.ToString("c"),
                ["maxPollingInterval"] = QueueSettings.MaxPollingInterval.ToString("c"),
                // The app writes messages base64-encoded (StorageAccount's QueueClientOptions), as the host expects.
                ["messageEncoding"] = "base64",
            },
        },
    };

    public static JsonObject HttpFunctionJson(HttpFunction f) => new()
    {
        ["bindings"] = new JsonArray(
            new JsonObject
            {
                ["type"] = "httpTrigger",
                ["direction"] = "in",
                ["name"] = "req",
                ["authLevel"] = "anonymous",
                ["methods"] = new JsonArray(f.Methods.Select(m => (JsonNode)JsonValue.Create(m)).ToArray()),
                ["route"] = f.Route,
            },
            new JsonObject { ["type"] = "http", ["direction"] = "out", ["name"] = "res" }),
    };

    /// <summary>In Azure the storage resources have no prefix, so the generated queue names are the plain ones.</summary>
    public static JsonObject QueueFunctionJson(QueueTrigger trigger, Storage.StorageNames names) => new()
    {
        ["bindings"] = new JsonArray(new JsonObject
        {
            ["type"] = "queueTrigger",
            ["direction"] = "in",
            ["name"] = QueueInvocationEndpoints.BindingName,
            ["queueName"] = trigger.Queue(names),
            ["connection"] = "AzureWebJobsStorage",
        }),
    };

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static string Serialize(JsonNode node) => node.ToJsonString(Indented) + "\n";

    /// <summary>Writes host.json and every function folder into <paramref name="directory"/>; returns the function names.</summary>
    public static IReadOnlyList<string> Write(string directory, EndpointDataSource endpoints, IEnumerable<QueueTrigger> triggers)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "host.json"), Serialize(HostJson()));
        var names = new List<string>();
        var storageNames = new Storage.StorageNames();
        foreach (var f in HttpFunctions(endpoints))
        {
            WriteFunction(directory, f.Name, HttpFunctionJson(f));
            names.Add(f.Name);
        }
        foreach (var t in triggers)
        {
            WriteFunction(directory, t.Name, QueueFunctionJson(t, storageNames));
            names.Add(t.Name);
        }
        if (names.Distinct(StringComparer.OrdinalIgnoreCase).Count() != names.Count)
            throw new InvalidOperationException("Two functions share a name: " + string.Join(", ", names.GroupBy(n => n, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1).Select(g => g.Key)));
        return names;
    }

    private static void WriteFunction(string directory, string name, JsonObject json)
    {
        var folder = Path.Combine(directory, name);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "function.json"), Serialize(json));
    }
}

/// <summary>Endpoint metadata for routes the app serves to the local host only (the health probe), never as a function.</summary>
public sealed record NotAFunction;
