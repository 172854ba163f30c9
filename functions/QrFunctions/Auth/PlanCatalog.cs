using System.Text.Json;
using QrFunctions.Organizations;

namespace QrFunctions.Auth;

/// <summary>What one plan allows. Null limits mean unlimited.</summary>
public sealed record PlanLimits
{
    /// <summary>Its place among the plans, cheapest first (configuration keys come back sorted by name, not by price).</summary>
    public int Tier { get; init; }
    /// <summary>The API surfaces the plan may call: seed 000 puts the QR-code API at Business Plus and up; /v1 comes with the paid plans.</summary>
    public IReadOnlyList<Api.ApiSurface> Surfaces { get; init; } = [];
    public double RequestsPerSecond { get; init; } = 1;
    /// <summary>Largest burst the token bucket admits at once (defaults to one second's worth).</summary>
    public double? Burst { get; init; }
    public int? MaxWorkspaces { get; init; }
    public int? MaxQrCodesPerTeam { get; init; }
    public int AnalyticsRetentionDays { get; init; } = 365;
}

/// <summary>
/// The plan catalog, read from configuration ("Plans" in appsettings.json) so prices and limits change
/// without a release; an organization's PlanOverrides JSON replaces single fields (Enterprise custom limits).
/// </summary>
public sealed class PlanCatalog(IConfiguration configuration)
{
    private readonly Dictionary<string, PlanLimits> _plans = configuration.GetSection("Plans").GetChildren()
        .ToDictionary(s => s.Key, s => s.Get<PlanLimits>() ?? new PlanLimits(), StringComparer.OrdinalIgnoreCase);

    public IReadOnlyCollection<string> Names => _plans.Keys;

    public bool Exists(string plan) => _plans.ContainsKey(plan);

    /// <summary>The cheapest plan that includes <paramref name="surface"/>, for the refusal message.</summary>
    public string CheapestWith(Api.ApiSurface surface) =>
        _plans.Where(p => p.Value.Surfaces.Contains(surface)).OrderBy(p => p.Value.Tier).Select(p => p.Key).FirstOrDefault() ?? "none";

    // Merged limits per (plan, overrides): every authenticated call asks, and the JSON merge is not free.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string, string), PlanLimits> _merged = new();

    public PlanLimits For(Organization org)
    {
        var limits = _plans.TryGetValue(org.Plan, out var p) ? p : new PlanLimits();
        if (string.IsNullOrEmpty(org.PlanOverrides)) return limits;
        if (_merged.Count > 10_000) _merged.Clear();
        return _merged.GetOrAdd((org.Plan, org.PlanOverrides), _ => Merge(limits, org.PlanOverrides));
    }

    private static PlanLimits Merge(PlanLimits limits, string planOverrides)
    {
        var overrides = JsonSerializer.Deserialize<JsonElement>(planOverrides);
        var merged = JsonSerializer.SerializeToElement(limits, JsonSerializerOptions.Web);
        var dict = merged.EnumerateObject().ToDictionary(x => x.Name, x => x.Value);
        foreach (var o in overrides.EnumerateObject()) dict[o.Name] = o.Value;
        return JsonSerializer.Deserialize<PlanLimits>(JsonSerializer.Serialize(dict), JsonSerializerOptions.Web)!;
    }
}
