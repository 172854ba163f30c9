using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace QrFunctions.Scans;

public sealed record UserAgentInfo(string Family, string? Major, string? Minor, string? Patch);
public sealed record OsInfo(string Family, string? Major, string? Minor, string? Patch, string? PatchMinor);
public sealed record DeviceInfo(string Family, string? Brand, string? Model);
public sealed record ParsedUserAgent(UserAgentInfo UserAgent, OsInfo Os, DeviceInfo Device);

/// <summary>
/// User-agent parsing with the uap-core regexes (npm uap-core, embedded at build), following the
/// project's specification: the first matching parser wins, "$N" in a replacement takes group N,
/// results are trimmed and empty means absent, family defaults to "Other".
/// </summary>
public static class UserAgentParser
{
    /// <summary>Longer user agents are cut: real ones are far shorter, and it bounds regex work on the scan path.</summary>
    public const int MaxLength = 512;

    private static readonly Lazy<Rules> Data = new(Rules.Load, LazyThreadSafetyMode.ExecutionAndPublication);
    private static readonly ConcurrentDictionary<string, ParsedUserAgent> Cache = new();
    private const int CacheLimit = 10_000;

    public static ParsedUserAgent Parse(string? userAgent)
    {
        var ua = userAgent ?? "";
        if (ua.Length > MaxLength) ua = ua[..MaxLength];
        if (Cache.TryGetValue(ua, out var hit)) return hit;
        var rules = Data.Value;
        var parsed = new ParsedUserAgent(ParseUserAgent(rules, ua), ParseOs(rules, ua), ParseDevice(rules, ua));
        if (Cache.Count >= CacheLimit) Cache.Clear(); // crude but bounded: the hot set refills within seconds
        Cache[ua] = parsed;
        return parsed;
    }

    public static UserAgentInfo ParseUserAgent(string ua) => ParseUserAgent(Data.Value, ua);
    public static OsInfo ParseOs(string ua) => ParseOs(Data.Value, ua);
    public static DeviceInfo ParseDevice(string ua) => ParseDevice(Data.Value, ua);

    private static UserAgentInfo ParseUserAgent(Rules rules, string ua)
    {
        foreach (var p in rules.UserAgents)
        {
            var m = Match(p, ua);
            if (m is null) break;
            if (!m.Success) continue;
            return new UserAgentInfo(
                Replace(p.Get("family_replacement"), m, 1) ?? "Other",
                Replace(p.Get("v1_replacement"), m, 2),
                Replace(p.Get("v2_replacement"), m, 3),
                Replace(p.Get("v3_replacement"), m, 4));
        }
        return new UserAgentInfo("Other", null, null, null);
    }

    private static OsInfo ParseOs(Rules rules, string ua)
    {
        foreach (var p in rules.Os)
        {
            var m = Match(p, ua);
            if (m is null) break;
            if (!m.Success) continue;
            return new OsInfo(
                Replace(p.Get("os_replacement"), m, 1) ?? "Other",
                Replace(p.Get("os_v1_replacement"), m, 2),
                Replace(p.Get("os_v2_replacement"), m, 3),
                Replace(p.Get("os_v3_replacement"), m, 4),
                Replace(p.Get("os_v4_replacement"), m, 5));
        }
        return new OsInfo("Other", null, null, null, null);
    }

    private static DeviceInfo ParseDevice(Rules rules, string ua)
    {
        foreach (var p in rules.Devices)
        {
            var m = Match(p, ua);
            if (m is null) break;
            if (!m.Success) continue;
            return new DeviceInfo(
                Replace(p.Get("device_replacement"), m, 1) ?? "Other",
                Replace(p.Get("brand_replacement"), m, null),
                Replace(p.Get("model_replacement"), m, 1));
        }
        return new DeviceInfo("Other", null, null);
    }

    /// <summary>
    /// A rule's match, or null when it ran past its time bound (a user agent built to backtrack, or a starved CPU):
    /// the dimension is then "Other" rather than the scan failing or trying every remaining rule at the same cost.
    /// </summary>
    private static Match? Match(Parser rule, string ua)
    {
        try { return rule.Regex.Match(ua); }
        catch (RegexMatchTimeoutException) { return null; }
    }

    private static readonly Regex GroupReference = new(@"\$(\d)", RegexOptions.Compiled);

    /// <summary>A replacement with $N filled in, or group <paramref name="fallbackGroup"/> when there is no replacement; trimmed, empty → null.</summary>
    private static string? Replace(string? replacement, Match m, int? fallbackGroup)
    {
        string? value;
        if (replacement is not null)
            value = GroupReference.Replace(replacement, r =>
            {
                var g = m.Groups[r.Groups[1].Value[0] - '0'];
                return g.Success ? g.Value : "";
            });
        else if (fallbackGroup is { } n && n < m.Groups.Count && m.Groups[n].Success)
            value = m.Groups[n].Value;
        else
            value = null;
        value = value?.Trim();
        return string.IsNullOrEmpty(value) ? null : value;
    }

    private sealed class Parser(string pattern, bool ignoreCase, Dictionary<string, string> fields)
    {
        private Regex? _regex;

        /// <summary>Compiled on first use: most scans match one of the first few parsers, so most regexes never cost anything.</summary>
        public Regex Regex => _regex ??= new Regex(pattern,
            RegexOptions.CultureInvariant | (ignoreCase ? RegexOptions.IgnoreCase : RegexOptions.None), TimeSpan.FromMilliseconds(200));

        public string? Get(string field) => fields.GetValueOrDefault(field);
    }

    private sealed record Rules(List<Parser> UserAgents, List<Parser> Os, List<Parser> Devices)
    {
        public static Rules Load()
        {
            using var stream = typeof(UserAgentParser).Assembly.GetManifestResourceStream("uap-regexes.yaml")
                ?? throw new InvalidOperationException("uap-regexes.yaml is not embedded (npm ci, then rebuild).");
            using var reader = new StreamReader(stream);
            var yaml = new YamlStream();
            yaml.Load(reader);
            var root = (YamlMappingNode)yaml.Documents[0].RootNode;
            return new Rules(Section(root, "user_agent_parsers"), Section(root, "os_parsers"), Section(root, "device_parsers"));
        }

        private static List<Parser> Section(YamlMappingNode root, string name) =>
            ((YamlSequenceNode)root.Children[new YamlScalarNode(name)]).Children.Cast<YamlMappingNode>().Select(node =>
            {
                var fields = node.Children.ToDictionary(kv => ((YamlScalarNode)kv.Key).Value!, kv => (kv.Value as YamlScalarNode)?.Value ?? "");
                var pattern = fields["regex"];
                var ignoreCase = fields.GetValueOrDefault("regex_flag") == "i";
                return new Parser(ToDotNet(pattern), ignoreCase, fields);
            }).ToList();

        /// <summary>uap-core's patterns are written for PCRE/Python; .NET differs in a few escapes.</summary>
        private static string ToDotNet(string pattern) => pattern;
    }
}
