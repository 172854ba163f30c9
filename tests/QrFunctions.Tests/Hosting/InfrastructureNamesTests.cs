using System.Text.Json;
using QrFunctions.Storage;
using QrFunctions.Tests.Infrastructure;
using Xunit;

namespace QrFunctions.Tests.Hosting;

/// <summary>The Bicep creates exactly the storage resources the code uses: both read infra/storage-names.json.</summary>
public class InfrastructureNamesTests
{
    private static readonly JsonElement Names = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoPaths.Root, "infra/storage-names.json"))).RootElement;

    private static HashSet<string> Section(string name) => Names.GetProperty(name).EnumerateObject().Select(p => p.Value.GetString()!).ToHashSet();

    [Fact]
    public void EveryNameTheCodeUsesIsInTheFileTheBicepLoads()
    {
        var names = new StorageNames();
        Assert.Equal(Section("tables"), names.AllTables.ToHashSet());
        Assert.Equal(Section("queues"), names.AllQueues.ToHashSet());
        Assert.Equal(Section("containers"), names.AllContainers.ToHashSet());
        var used = typeof(StorageNames).GetProperties()
            .Where(p => p.PropertyType == typeof(string) && p.Name != nameof(StorageNames.Prefix))
            .Select(p => (string)p.GetValue(names)!).ToList();
        Assert.NotEmpty(used);
        var declared = Section("tables").Union(Section("queues")).Union(Section("containers")).ToHashSet();
        Assert.All(used, n => Assert.Contains(n, declared));
    }

    [Fact]
    public void TheStorageModuleCreatesEveryTableQueuePoisonQueueAndContainerFromThatFile()
    {
        var bicep = File.ReadAllText(Path.Combine(RepoPaths.Root, "infra/modules/storage.bicep"));
        Assert.Contains("loadJsonContent('../storage-names.json')", bicep);
        Assert.Contains("for t in items(names.tables)", bicep);
        Assert.Contains("for q in items(names.queues)", bicep);
        Assert.Contains("'${q.value}-poison'", bicep);
        Assert.Contains("for c in items(names.containers)", bicep);
        Assert.Equal("x-poison", StorageNames.PoisonQueueOf("x"));
    }

    [Fact]
    public void NoCodeHardCodesAStorageName()
    {
        var code = Directory.EnumerateFiles(Path.Combine(RepoPaths.Root, "functions/QrFunctions"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains("/obj/") && !f.Contains("/bin/"))
            .Select(File.ReadAllText).ToList();
        foreach (var name in Section("tables").Union(Section("queues")).Union(Section("containers")))
            Assert.DoesNotContain(code, c => c.Contains($"GetTableClient(\"{name}\"") || c.Contains($"GetQueueClient(\"{name}\"") || c.Contains($"GetBlobContainerClient(\"{name}\""));
    }
}
