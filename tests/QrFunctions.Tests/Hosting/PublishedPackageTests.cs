using System.Diagnostics;
using System.IO.Compression;
using System.Reflection.PortableExecutable;
using System.Text.Json;
using System.Text.Json.Nodes;
using QrFunctions.Hosting;
using QrFunctions.Organizations;
using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Hosting;

/// <summary>
/// Builds the zip Flex Consumption deploys (./publish.sh) once and reads what the Functions SDK generated in it:
/// functions.metadata must list exactly the functions the development server serves and the OpenAPI document
/// describes, every queue must be one the infrastructure creates, and the package's executable still runs the
/// operator commands against storage.
/// </summary>
public class PublishedPackageTests(PublishedPackageTests.Package package) : IClassFixture<PublishedPackageTests.Package>
{
    /// <summary>One publish for the class (it takes most of a minute), unpacked; deleted afterwards.</summary>
    public sealed class Package : TestService
    {
        public string Work { get; } = Directory.CreateTempSubdirectory("package").FullName;
        public string Zip => Path.Combine(Work, "qrfunctions.zip");
        public string Root => Path.Combine(Work, "unpacked");

        public override async Task InitializeAsync()
        {
            await base.InitializeAsync();
            await RunAsync("bash", [Path.Combine(RepoPaths.Root, "publish.sh"), Work], RepoPaths.Root);
            ZipFile.ExtractToDirectory(Zip, Root);
        }

        public override async Task DisposeAsync()
        {
            Directory.Delete(Work, recursive: true);
            await base.DisposeAsync();
        }

        public JsonArray Metadata => JsonNode.Parse(File.ReadAllText(Path.Combine(Root, "functions.metadata")))!.AsArray();
    }

    [Fact]
    public void ThePackageHoldsWhatTheIsolatedWorkerNeeds()
    {
        using var zip = ZipFile.OpenRead(package.Zip);
        foreach (var name in new[] { "host.json", "functions.metadata", "worker.config.json", "extensions.json", "QrFunctions.dll", "appsettings.json" })
            Assert.True(zip.GetEntry(name) is not null, $"{name} is not in the package");
        Assert.Contains(zip.Entries, e => e.FullName.StartsWith(".azurefunctions/", StringComparison.Ordinal));
        Assert.DoesNotContain(zip.Entries, e => e.Name == "function.json"); // no custom-handler leftovers
        var exe = zip.GetEntry("QrFunctions")!;
        Assert.True(((exe.ExternalAttributes >> 16) & 0b001_001_001) != 0, "the executable lost its execute bit in the zip");

        Assert.Equal(File.ReadAllText(Path.Combine(RepoPaths.Root, "host.json")), File.ReadAllText(Path.Combine(package.Root, "host.json")));
        var worker = JsonNode.Parse(File.ReadAllText(Path.Combine(package.Root, "worker.config.json")))!["description"]!;
        Assert.Equal("dotnet-isolated", worker["language"]!.GetValue<string>());
        Assert.Equal("QrFunctions.dll", worker["defaultWorkerPath"]!.GetValue<string>());
        var extensions = JsonNode.Parse(File.ReadAllText(Path.Combine(package.Root, "extensions.json")))!["extensions"]!.AsArray();
        Assert.Contains(extensions, e => e!["name"]!.GetValue<string>() == "AzureStorageQueues");

        using var pe = new PEReader(File.OpenRead(Path.Combine(package.Root, "QrFunctions.dll")));
        Assert.True(pe.PEHeaders.CorHeader!.ManagedNativeHeaderDirectory.Size > 0, "QrFunctions.dll is not ReadyToRun-compiled");
    }

    [Fact]
    public async Task FunctionsMetadataListsExactlyTheOpenApiOperations()
    {
        var http = package.Metadata.Select(f => (Name: f!["name"]!.GetValue<string>(), Trigger: f["bindings"]!.AsArray().Single(b => b!["direction"]!.GetValue<string>() == "In")!))
            .Where(f => f.Trigger["type"]!.GetValue<string>() == "httpTrigger").ToList();
        Assert.All(http, f => Assert.Equal("Anonymous", f.Trigger["authLevel"]!.GetValue<string>()));
        var fromMetadata = http.SelectMany(f => f.Trigger["methods"]!.AsArray().Select(m =>
            (Path: OpenApiTests.OpenApiPath(f.Trigger["route"]!.GetValue<string>()), Method: m!.GetValue<string>().ToLowerInvariant(), f.Name))).Order().ToList();

        var document = JsonDocument.Parse(await package.Anonymous().GetStringAsync("/openapi/v1.json")).RootElement;

        Assert.Equal(fromMetadata, OpenApiTests.Operations(document));
    }

    [Fact]
    public void EveryQueueFunctionReadsAQueueTheInfrastructureCreates()
    {
        var names = JsonNode.Parse(File.ReadAllText(Path.Combine(RepoPaths.Root, "infra", "storage-names.json")))!["queues"]!.AsObject()
            .Select(q => q.Value!.GetValue<string>()).ToHashSet();
        var queueFunctions = package.Metadata.Select(f => f!["bindings"]!.AsArray().Single(b => b!["direction"]!.GetValue<string>() == "In")!)
            .Where(b => b["type"]!.GetValue<string>() == "queueTrigger").ToList();

        Assert.Equal(FunctionCatalog.App.QueueFunctions.Count, queueFunctions.Count);
        Assert.All(queueFunctions, b =>
        {
            Assert.Contains(b["queueName"]!.GetValue<string>(), names);
            Assert.Equal("AzureWebJobsStorage", b["connection"]?.GetValue<string>() ?? "AzureWebJobsStorage"); // the host's default when unnamed
        });
    }

    [Fact]
    public void EveryFunctionTheHostWillRunDeclaresWhoMayCallIt()
    {
        var declared = package.Metadata.Select(f => f!["name"]!.GetValue<string>()).ToList();
        var catalog = FunctionCatalog.App;
        // The catalog refuses an HTTP function that declares neither [ApiAccess] nor [Public]; so each name must be in it.
        Assert.All(declared, name => Assert.True(catalog.FindHttp(name) is not null || catalog.QueueFunctions.Any(q => q.Name == name), $"{name} is not in the catalog"));
        Assert.Equal(catalog.HttpFunctions.Count + catalog.QueueFunctions.Count, declared.Count);
        // Public on purpose, and only these: adding one is a decision this list records.
        Assert.Equal(["Docs", "DocsAsset", "InvitesAccept", "InvitesPage", "InvitesPageAccept", "OpenApiDocument", "QrsAvailability", "Scan", "ScanContinue", "ScanUnlock", "ZzUnmatchedApi", "ZzUnmatchedV1", "ZzzUnmatchedPath"],
            catalog.HttpFunctions.Where(f => f.Access.IsPublic).Select(f => f.Name).Order());
    }

    [Fact]
    public async Task ThePackagesExecutableRunsTheOperatorCommands()
    {
        var slug = "pkg-" + Storage.Ids.Random(8).ToLowerInvariant().Replace('_', 'x');
        var output = await RunAsync(Path.Combine(package.Root, "QrFunctions"),
            ["operator", "create-org", "--name", "Packaged", "--slug", slug, "--plan", "Enterprise", "--owner-email", $"owner@{slug}.example"], package.Root,
            new()
            {
                ["AzureWebJobsStorage"] = Environment.GetEnvironmentVariable("AzureWebJobsStorage") ?? Storage.StorageConnection.AzuriteConnectionString,
                ["Storage__Prefix"] = package.Prefix,
                ["QrFunctions__CreateStorage"] = "false",
            });

        var created = JsonNode.Parse(output)!;
        var orgId = created["orgId"]!.GetValue<string>();
        var org = await package.Storage.Orgs.GetEntityAsync<Organization>(orgId, Organization.Row);
        Assert.Equal(slug, org.Value.Slug);
        Assert.StartsWith("qr3_sk_", created["bearerToken"]!.GetValue<string>());

        // Enterprise custom limits: set by the operator, in effect on the next call, and in the owner's audit log.
        var environment = new Dictionary<string, string>
        {
            ["AzureWebJobsStorage"] = Environment.GetEnvironmentVariable("AzureWebJobsStorage") ?? Storage.StorageConnection.AzuriteConnectionString,
            ["Storage__Prefix"] = package.Prefix,
        };
        var limits = JsonNode.Parse(await RunAsync(Path.Combine(package.Root, "QrFunctions"),
            ["operator", "set-limits", "--org", orgId, "--requests-per-second", "300", "--max-workspaces", "40"], package.Root, environment))!;
        Assert.Equal(300, limits["effective"]!["requestsPerSecond"]!.GetValue<double>());
        Assert.Equal(40, limits["effective"]!["maxWorkspaces"]!.GetValue<int>());
        var owner = package.Anonymous();
        owner.DefaultRequestHeaders.Authorization = new("Bearer", created["bearerToken"]!.GetValue<string>());
        var response = await owner.GetAsync("/v1/audit-logs?resource_type=organizations&action=organizations.limits_updated");
        Assert.Equal("300", response.Headers.GetValues("X-RateLimit-Limit").Single());
        var entry = Assert.Single(JsonNode.Parse(await response.Content.ReadAsStringAsync())!["data"]!.AsArray())!;
        Assert.Equal("operator", entry["actor_type"]!.GetValue<string>());
        Assert.Equal(300, entry["changes"]!["plan_overrides"]!["after"]!["requestsPerSecond"]!.GetValue<double>());

        var refused = await RunAsync(Path.Combine(package.Root, "QrFunctions"), ["operator", "set-limits", "--org", orgId, "--max-workspaces", "2.5"], package.Root, environment, expectedExit: 2);
        Assert.Contains("whole number", refused);
    }

    /// <returns>stdout, or stderr when the command was expected to fail.</returns>
    private static async Task<string> RunAsync(string file, string[] args, string cwd, Dictionary<string, string>? environment = null, int expectedExit = 0)
    {
        var psi = new ProcessStartInfo(file) { WorkingDirectory = cwd, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in environment ?? []) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.True(p.ExitCode == expectedExit, $"{file} {string.Join(' ', args)} exited {p.ExitCode}, expected {expectedExit}:\n{await stdout}\n{await stderr}");
        return expectedExit == 0 ? await stdout : await stderr;
    }
}
