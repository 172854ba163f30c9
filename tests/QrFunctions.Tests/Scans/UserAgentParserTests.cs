using QrFunctions.Scans;
using QrFunctions.Tests.Infrastructure;
using Xunit;
using YamlDotNet.RepresentationModel;

namespace QrFunctions.Tests.Scans;

/// <summary>
/// Every case of uap-core 0.18.0's own test vectors (testdata/uap-core-0.18.0 beside this file, Apache-2.0 with its
/// LICENSE there; the release published to npm as uap-core@0.18.0, whose regexes.yaml the app embeds).
/// </summary>
[Collection(RunsAlone.Name)] // 18,008 vectors through up to ~1,000 regexes each, every match bounded by the parser's 200 ms timeout
public class UserAgentParserPassesUapCoreVectors
{
    private static List<Dictionary<string, string?>> Cases(string file)
    {
        var yaml = new YamlStream();
        using (var reader = new StreamReader(Path.Combine(RepoPaths.Root, "tests/QrFunctions.Tests/Scans/testdata/uap-core-0.18.0", file))) yaml.Load(reader);
        var root = (YamlMappingNode)yaml.Documents[0].RootNode;
        return ((YamlSequenceNode)root.Children[new YamlScalarNode("test_cases")]).Children.Cast<YamlMappingNode>()
            .Select(n => n.Children.ToDictionary(kv => ((YamlScalarNode)kv.Key).Value!, kv => NullIfEmpty((kv.Value as YamlScalarNode)?.Value)))
            .ToList();
    }

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;

    private static void AssertAll(string file, Func<string, string?[]> parse, params string[] fields)
    {
        var cases = Cases(file);
        Assert.True(cases.Count > 100, $"{file}: only {cases.Count} cases read");
        var failures = new List<string>();
        foreach (var c in cases)
        {
            var ua = c["user_agent_string"] ?? "";
            var actual = parse(ua);
            var expected = fields.Select(f => c.GetValueOrDefault(f)).ToArray();
            if (!expected.SequenceEqual(actual)) failures.Add($"{ua}\n   expected [{string.Join(", ", expected)}]\n   actual   [{string.Join(", ", actual)}]");
        }
        Assert.True(failures.Count == 0, $"{failures.Count} of {cases.Count} cases in {file} fail:\n" + string.Join("\n", failures.Take(40)));
    }

    [Fact]
    public void UserAgentFamiliesAndVersions() => AssertAll("test_ua.yaml", ua =>
    {
        var p = UserAgentParser.ParseUserAgent(ua);
        return [p.Family, p.Major, p.Minor, p.Patch];
    }, "family", "major", "minor", "patch");

    [Fact]
    public void OperatingSystems() => AssertAll("test_os.yaml", ua =>
    {
        var p = UserAgentParser.ParseOs(ua);
        return [p.Family, p.Major, p.Minor, p.Patch, p.PatchMinor];
    }, "family", "major", "minor", "patch", "patch_minor");

    [Fact]
    public void Devices() => AssertAll("test_device.yaml", ua =>
    {
        var p = UserAgentParser.ParseDevice(ua);
        return [p.Family, p.Brand, p.Model];
    }, "family", "brand", "model");
}
