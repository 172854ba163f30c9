using System.Text.Json.Nodes;
using QrFunctions.Api;

namespace QrFunctions.Scans;

/// <summary>
/// The steps a scan goes through, in this order, between being recorded and its answer (docs/scans.md#scan-flow):
/// the age gate (settings.ageGating, settings.minAge; skipped when this browser confirmed it for the code within a day),
/// the location consent (settings.locationEnabled) and the lead form (settings.leadCapture).
/// </summary>
public sealed record ScanFlow(int? MinAge, bool Location, LeadCaptureSettings? Lead)
{
    public const string Age = "age";
    public const string LocationStep = "location";
    public const string LeadStep = "lead";
    public const int DefaultMinAge = 18;

    public static ScanFlow Of(JsonObject settings) => new(
        QrContent.Flag(settings["ageGating"]) ? (int)Math.Clamp(QrContent.Number(settings["minAge"]) ?? DefaultMinAge, 1, 99) : null,
        QrContent.Flag(settings["locationEnabled"]),
        LeadCaptureSettings.From(settings["leadCapture"]));

    public bool Any => MinAge is not null || Location || Lead is not null;

    /// <summary>
    /// Whether the content may only be shown to a scan that went through the flow: behind an age gate, or a lead form
    /// without a skip. The vCard download of such a code needs a token of a finished flow (or, age gate alone, the cookie).
    /// </summary>
    public bool Gates => MinAge is not null || Lead is { AllowSkip: false };

    /// <summary>The first step after <paramref name="after"/> (null: from the start), or null when the answer comes next.</summary>
    public string? Next(string? after, bool ageRemembered)
    {
        var steps = new List<string>(3);
        if (MinAge is not null && !ageRemembered) steps.Add(Age);
        if (Location) steps.Add(LocationStep);
        if (Lead is not null) steps.Add(LeadStep);
        if (after is null) return steps.FirstOrDefault();
        var order = new[] { Age, LocationStep, LeadStep };
        var rank = Array.IndexOf(order, after);
        return steps.FirstOrDefault(s => Array.IndexOf(order, s) > rank);
    }
}

/// <summary>
/// settings.leadCapture: {enabled (default true), fields (subset of name, email, phone, question; default name and email),
/// required (subset of fields; default all of them), question (the free-text question, required with "question"),
/// consentText (required), allowSkip (default false), title, description}.
/// </summary>
public sealed record LeadCaptureSettings(IReadOnlyList<string> Fields, IReadOnlySet<string> Required, string Question, string ConsentText, bool AllowSkip,
    string Title, string Description)
{
    public static readonly string[] KnownFields = ["name", "email", "phone", "question"];
    public const int MaxName = 200, MaxEmail = 254, MaxPhone = 32, MaxAnswer = 2000, MaxQuestion = 300, MaxConsent = 2000, MaxTitle = 200, MaxDescription = 1000;

    /// <summary>What a scan needs, read leniently (the API validated it when it was stored); null when lead capture is off.</summary>
    public static LeadCaptureSettings? From(JsonNode? node)
    {
        if (node is not JsonObject o) return null;
        if (o["enabled"] is { } enabled && !QrContent.Flag(enabled)) return null;
        var fields = Strings(o["fields"]).Where(KnownFields.Contains).Distinct().ToList();
        if (fields.Count == 0) fields = ["name", "email"];
        var required = o["required"] is JsonArray ? Strings(o["required"]).Where(fields.Contains).ToHashSet() : fields.ToHashSet();
        var title = QrContent.TextOf(o["title"]);
        return new LeadCaptureSettings(fields, required, QrContent.TextOf(o["question"]), QrContent.TextOf(o["consentText"]), QrContent.Flag(o["allowSkip"]),
            title.Length > 0 ? title : "Before you continue", QrContent.TextOf(o["description"]));
    }

    private static IEnumerable<string> Strings(JsonNode? node) =>
        node is JsonArray a ? a.Select(QrContent.TextOf).Where(s => s.Length > 0) : [];

    /// <summary>The API's check of settings.leadCapture on create and update: 400s naming the field.</summary>
    public static void Validate(JsonObject settings)
    {
        if (settings["leadCapture"] is null) return;
        var lead = settings.OptionalObject("leadCapture")!;
        lead.OptionalBool("enabled");
        lead.OptionalBool("allowSkip");
        var fields = lead.OptionalStringArray("fields", 4, 16);
        if (fields is not null && (fields.Count == 0 || fields.Any(f => !KnownFields.Contains(f))))
            throw ApiProblem.BadRequest("settings.leadCapture.fields must list one or more of name, email, phone, question.");
        var asked = fields ?? ["name", "email"];
        var required = lead.OptionalStringArray("required", 4, 16);
        if (required is not null && required.Any(f => !asked.Contains(f)))
            throw ApiProblem.BadRequest("settings.leadCapture.required may only name fields the form asks for.");
        var question = lead.OptionalString("question", MaxQuestion);
        if (asked.Contains("question") && string.IsNullOrWhiteSpace(question))
            throw ApiProblem.BadRequest("settings.leadCapture.question is required when fields include question.");
        if (string.IsNullOrWhiteSpace(lead.OptionalString("consentText", MaxConsent)))
            throw ApiProblem.BadRequest("settings.leadCapture.consentText is required: visitors agree to it before their details are stored.");
        lead.OptionalString("title", MaxTitle);
        lead.OptionalString("description", MaxDescription);
    }
}
