using System.Diagnostics;
using System.Reflection;
using System.Text.Json.Nodes;
using QrFunctions.Scans;
using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Hosting;

/// <summary>
/// infra/main.bicep evaluated offline by the Bicep CLI (`bicep snapshot`: every resource the deployment would create,
/// with its properties as far as they are known before deployment), with Front Door and without.
/// </summary>
public sealed class InfraSnapshots : IAsyncLifetime
{
    public const string DeployerRange = "198.51.100.0/24";
    public JsonObject WithFrontDoor { get; private set; } = null!;
    public JsonObject WithoutFrontDoor { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var with = SnapshotAsync("""
            param environmentName = 'prod'
            param enableFrontDoor = true
            param customDomains = ['qr.acme.example']
            param deploymentAllowedAddresses = ['198.51.100.0/24']
            """);
        var without = SnapshotAsync("""
            param environmentName = 'prod'
            param enableFrontDoor = false
            """);
        (WithFrontDoor, WithoutFrontDoor) = (await with, await without);
    }

    public Task DisposeAsync() => Task.CompletedTask;

    private static async Task<JsonObject> SnapshotAsync(string parameters)
    {
        var bicep = typeof(InfraSnapshots).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "BicepCli").Value!;
        // NuGet does not keep the executable bit (scripts/lint-infra.sh sets it too).
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(bicep, File.GetUnixFileMode(bicep) | UnixFileMode.UserExecute);
        var folder = Directory.CreateTempSubdirectory("qr-infra-");
        try
        {
            var main = Path.GetRelativePath(folder.FullName, Path.Combine(RepoPaths.Root, "infra", "main.bicep"));
            var file = Path.Combine(folder.FullName, "test.bicepparam");
            await File.WriteAllTextAsync(file, $"using '{main}'\n{parameters}\n");
            var start = new ProcessStartInfo(bicep) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { "snapshot", file, "--subscription-id", "00000000-0000-0000-0000-000000000001", "--resource-group", "rg-test", "--location", "westeurope" })
                start.ArgumentList.Add(a);
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode == 0, $"bicep snapshot failed: {await output}{await error}");
            return JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(folder.FullName, "test.snapshot.json")))!.AsObject();
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}

public class FrontDoorInfrastructureTests(InfraSnapshots snapshots) : IClassFixture<InfraSnapshots>
{
    private static List<JsonObject> Resources(JsonObject snapshot, string type) =>
        snapshot["predictedResources"]!.AsArray().Select(r => r!.AsObject()).Where(r => (string)r["type"]! == type).ToList();

    private static JsonObject Resource(JsonObject snapshot, string type, string nameEndsWith) =>
        Assert.Single(Resources(snapshot, type), r => ((string)r["name"]!).EndsWith(nameEndsWith, StringComparison.Ordinal));

    private static JsonObject SiteConfig(JsonObject snapshot) => Assert.Single(Resources(snapshot, "Microsoft.Web/sites"))["properties"]!["siteConfig"]!.AsObject();

    private static string Setting(JsonObject snapshot, string name) =>
        (string)Assert.Single(SiteConfig(snapshot)["appSettings"]!.AsArray(), s => (string)s!["name"]! == name)!["value"]!;

    /// <summary>The deployment-time value of our profile's frontDoorId property.</summary>
    private static void AssertIsOurFrontDoorId(JsonObject snapshot, string? value)
    {
        var profileId = (string)Assert.Single(Resources(snapshot, "Microsoft.Cdn/profiles"))["id"]!;
        Assert.NotNull(value);
        Assert.StartsWith($"[reference('{profileId}'", value);
        Assert.EndsWith(".frontDoorId]", value);
    }

    [Fact]
    public void BehindFrontDoorTheAppAdmitsOnlyOurProfileAndDeniesTheRest()
    {
        var config = SiteConfig(snapshots.WithFrontDoor);
        Assert.Equal("Deny", (string)config["ipSecurityRestrictionsDefaultAction"]!);
        var rule = Assert.Single(config["ipSecurityRestrictions"]!.AsArray())!.AsObject();
        Assert.Equal("Allow", (string)rule["action"]!);
        Assert.Equal("ServiceTag", (string)rule["tag"]!);
        Assert.Equal("AzureFrontDoor.Backend", (string)rule["ipAddress"]!);
        var ids = rule["headers"]!["x-azure-fdid"]!.AsArray();
        AssertIsOurFrontDoorId(snapshots.WithFrontDoor, (string?)Assert.Single(ids));
    }

    [Fact]
    public void DeploymentKeepsItsOwnAccessRules()
    {
        var config = SiteConfig(snapshots.WithFrontDoor);
        Assert.False((bool)config["scmIpSecurityRestrictionsUseMain"]!);
        Assert.Equal("Deny", (string)config["scmIpSecurityRestrictionsDefaultAction"]!);
        Assert.Equal(InfraSnapshots.DeployerRange, (string)Assert.Single(config["scmIpSecurityRestrictions"]!.AsArray())!["ipAddress"]!);

        var open = SiteConfig(snapshots.WithoutFrontDoor);
        Assert.False((bool)open["scmIpSecurityRestrictionsUseMain"]!);
        Assert.Equal("Allow", (string)open["scmIpSecurityRestrictionsDefaultAction"]!);
    }

    [Fact]
    public void WithoutFrontDoorTheAppIsOpenAndTrustsNoEdgeHeaders()
    {
        var config = SiteConfig(snapshots.WithoutFrontDoor);
        Assert.Equal("Allow", (string)config["ipSecurityRestrictionsDefaultAction"]!);
        Assert.Empty(config["ipSecurityRestrictions"]!.AsArray());
        Assert.Equal("", Setting(snapshots.WithoutFrontDoor, "QrFunctions__FrontDoorId"));
        Assert.Contains(".azurewebsites.net", Setting(snapshots.WithoutFrontDoor, "QrFunctions__SharedScanHosts"));
    }

    [Fact]
    public void TheAppKnowsOurFrontDoorIdAndTheAzurewebsitesNameIsNotShared()
    {
        AssertIsOurFrontDoorId(snapshots.WithFrontDoor, Setting(snapshots.WithFrontDoor, "QrFunctions__FrontDoorId"));
        Assert.DoesNotContain("azurewebsites", Setting(snapshots.WithFrontDoor, "QrFunctions__SharedScanHosts"));
    }

    [Fact]
    public void FrontDoorTellsTheAppTheVisitorsHostAndAddressInTheHeadersTheAppReads()
    {
        var app = Resource(snapshots.WithFrontDoor, "Microsoft.Cdn/profiles/afdEndpoints/routes", "/app");
        var ruleSetId = (string)Assert.Single(app["properties"]!["ruleSets"]!.AsArray())!["id"]!;
        var ruleSet = Assert.Single(Resources(snapshots.WithFrontDoor, "Microsoft.Cdn/profiles/ruleSets"), r => (string)r["id"]! == ruleSetId);
        var rule = Assert.Single(Resources(snapshots.WithFrontDoor, "Microsoft.Cdn/profiles/ruleSets/rules"),
            r => ((string)r["name"]!).StartsWith((string)ruleSet["name"]! + "/", StringComparison.Ordinal))["properties"]!;
        Assert.Empty(rule["conditions"]!.AsArray()); // every request
        var actions = rule["actions"]!.AsArray().Select(a => a!.AsObject()).ToList();
        Assert.All(actions, a => Assert.Equal("ModifyRequestHeader", (string)a["name"]!));
        // Overwrite: whatever a visitor sent under these names is replaced, never passed on.
        var written = actions.Select(a => a["parameters"]!)
            .ToDictionary(p => (string)p["headerName"]!, p => ((string)p["headerAction"]!, (string)p["value"]!));
        Assert.Equal(("Overwrite", "{hostname}"), written[EdgeTrust.VisitorHostHeader]);
        Assert.Equal(("Overwrite", "{socket_ip}"), written[EdgeTrust.VisitorAddressHeader]);
        Assert.Equal(("Overwrite", "{geo_country}"), written[EdgeTrust.VisitorCountryHeader]);
    }

    [Fact]
    public void QrImagesAreReadableAnonymouslyAndNothingElseIs()
    {
        foreach (var snapshot in new[] { snapshots.WithFrontDoor, snapshots.WithoutFrontDoor })
        {
            Assert.True((bool)Assert.Single(Resources(snapshot, "Microsoft.Storage/storageAccounts"))["properties"]!["allowBlobPublicAccess"]!);
            var containers = Resources(snapshot, "Microsoft.Storage/storageAccounts/blobServices/containers")
                .ToDictionary(c => ((string)c["name"]!).Split('/')[^1], c => (string)c["properties"]!["publicAccess"]!);
            Assert.Equal("Blob", containers["qr-images"]);
            Assert.All(containers.Where(c => c.Key != "qr-images"), c => Assert.Equal("None", c.Value));
        }
        // Front Door's image route reads the blob origin (no credentials) and caches.
        var images = Resource(snapshots.WithFrontDoor, "Microsoft.Cdn/profiles/afdEndpoints/routes", "/images")["properties"]!;
        Assert.Equal("/qr-images/*", (string)Assert.Single(images["patternsToMatch"]!.AsArray())!);
        Assert.EndsWith("/originGroups/images", (string)images["originGroup"]!["id"]!);
        Assert.NotNull(images["cacheConfiguration"]);
    }
}
