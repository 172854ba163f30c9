using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using QrFunctions.Api;
using QrFunctions.Teams;

namespace QrFunctions.Qrs;

/// <summary>
/// Validates a CreateQrRequest (POST and PUT /api/qrs-api) into the JSON object that is stored.
/// Unknown extra fields are kept as sent; known fields are type-checked with 400s naming the field.
/// </summary>
public static partial class QrRequest
{
    public static readonly IReadOnlySet<string> Types = new HashSet<string>(StringComparer.Ordinal)
    {
        "WEB", "PDF", "VCARD", "MULTI_LOCALE", "APP_DOWNLOAD", "LINK_LIST", "SHORT_LINK",
        "COUPON_CODE", "IMAGE_GALLERY", "SOCIAL_BIO", "VIDEO_PREVIEW", "RESTAURANT_MENU",
    };

    [GeneratedRegex(@"^[a-zA-Z0-9\-_.~%]+$")]
    public static partial Regex DisplayIdPattern();

    public const int MaxDisplayIdLength = 128;

    /// <summary>Fields the server owns; a client cannot set them.</summary>
    public static readonly string[] ServerFields =
        ["id", "teamId", "orgId", "qrImageUrl", "qrImageHash", "createdAt", "createdBy", "updatedAt", "updatedBy", "deleted", "scanUrl", "approvalStatus", "pending", "batchId"];

    /// <summary>URL fields by type, top-level or in metadata; each must be an absolute http(s) URL when present.</summary>
    private static readonly string[] UrlFields = ["qrRedirectUrl", "pdfUrl", "website", "defaultQrRedirectUrl", "iosUrl", "androidUrl", "fallbackUrl", "videoUrl"];

    public static bool IsValidDisplayId(string? value) =>
        value is { Length: > 0 and <= MaxDisplayIdLength } && DisplayIdPattern().IsMatch(value);

    /// <summary>Returns the request without server-owned fields, validated; displayId/baseUrl are checked here too.</summary>
    public static JsonObject Validate(JsonObject body, Team team)
    {
        var qr = (JsonObject)body.DeepClone();
        foreach (var f in ServerFields) qr.Remove(f);

        var type = qr.OptionalString("qrType", 32);
        if (type is null) throw ApiProblem.BadRequest("qrType is required.");
        if (!Types.Contains(type)) throw ApiProblem.BadRequest($"qrType must be one of {string.Join(", ", Types)}.");

        var name = qr.OptionalString("name", 255);
        qr["name"] = string.IsNullOrWhiteSpace(name) ? "Untitled" : name.Trim();

        var displayId = qr.OptionalString("displayId", 1024);
        if (displayId is not null && !IsValidDisplayId(displayId))
            throw ApiProblem.BadRequest($"displayId must match ^[a-zA-Z0-9\\-_.~%]+$ and be at most {MaxDisplayIdLength} characters.");
        if (displayId is not null && Hosting.FunctionCatalog.App.ReservedFirstSegments.Contains(displayId))
            throw ApiProblem.BadRequest($"displayId '{displayId}' is reserved: it is the first segment of a path the service serves.");

        var metadata = qr.OptionalObject("metadata") ?? [];
        qr["metadata"] = metadata;
        qr["settings"] = qr.OptionalObject("settings") ?? [];
        qr["tags"] = ToArray(qr.OptionalStringArray("tags", 100, 64) ?? []);
        qr.OptionalId("folderId", 128);
        if (qr.OptionalIdArray("folderIds", 50, 128) is { } folders) qr["folderIds"] = ToArray(folders);
        if (FoldersOf(qr).Count > MaxFolders)
            throw ApiProblem.BadRequest($"A QR code can be in at most {MaxFolders} folders (folderId and folderIds together).");
        qr.OptionalId("templateId", 128);
        qr.OptionalLong("expiryDate");

        foreach (var field in UrlFields)
        {
            qr.OptionalHttpUrl(field);
            metadata.OptionalHttpUrl(field);
        }
        if (type is "WEB" or "SHORT_LINK" && qr.OptionalString("qrRedirectUrl") is null)
            throw ApiProblem.BadRequest($"qrRedirectUrl is required for {type} codes.");
        if (type == "MULTI_LOCALE") ValidateLocales(qr);
        ValidateNestedUrls(metadata);
        ValidateSettings((JsonObject)qr["settings"]!);

        if (qr.OptionalString("baseUrl", 512) is { } baseUrl)
        {
            if (!BaseUrlPattern().IsMatch(baseUrl) || !Uri.TryCreate(baseUrl, UriKind.Absolute, out var uri))
                throw ApiProblem.BadRequest("baseUrl must be an http(s) URL ending with '/'.");
            var allowed = team.Domains().Append(team.DefaultDomain ?? "").Append(team.CustomDomain ?? "");
            if (!allowed.Any(d => d.Length > 0 && string.Equals(d, uri.Host, StringComparison.OrdinalIgnoreCase)))
                throw ApiProblem.BadRequest($"baseUrl host '{uri.Host}' is not one of the team's configured domains.");
        }
        return qr;
    }

    [GeneratedRegex("^https?://.*/$")]
    private static partial Regex BaseUrlPattern();

    private static void ValidateLocales(JsonObject qr)
    {
        var source = qr["qrRedirectUrls"] is not null ? qr : qr["metadata"] as JsonObject ?? qr;
        if (source["qrRedirectUrls"] is null) return;
        if (source["qrRedirectUrls"] is not JsonArray list) throw ApiProblem.BadRequest("qrRedirectUrls must be an array of {locale, qrRedirectUrl}.");
        foreach (var item in list)
        {
            if (item is not JsonObject o) throw ApiProblem.BadRequest("qrRedirectUrls must be an array of {locale, qrRedirectUrl}.");
            o.RequiredString("locale", 35);
            if (o.OptionalHttpUrl("qrRedirectUrl") is null) throw ApiProblem.BadRequest("qrRedirectUrls[].qrRedirectUrl is required.");
        }
    }

    /// <summary>links[].url, images[].url: scan pages render them, so only http(s) is allowed.</summary>
    private static void ValidateNestedUrls(JsonObject metadata)
    {
        foreach (var listName in new[] { "links", "images" })
        {
            if (metadata[listName] is null) continue;
            if (metadata[listName] is not JsonArray list) throw ApiProblem.BadRequest($"metadata.{listName} must be an array.");
            foreach (var item in list)
            {
                if (item is not JsonObject o) throw ApiProblem.BadRequest($"metadata.{listName} items must be objects.");
                if (o["url"] is not null && !RequestJson.IsHttpUrl((o["url"] as JsonValue)?.TryGetValue<string>(out var u) == true ? u : null))
                    throw ApiProblem.BadRequest($"metadata.{listName}[].url must be an absolute http or https URL.");
            }
        }
    }

    private static void ValidateSettings(JsonObject settings)
    {
        settings.OptionalBool("passwordEnabled");
        settings.OptionalString("password", 128);
        settings.Remove(QrPasswords.HashField); // only the server makes hashes (QrPasswords.Protect)
        settings.OptionalBool("scheduleCampaign");
        settings.OptionalLong("campaignStart");
        settings.OptionalLong("campaignEnd");
        settings.OptionalLong("expiryDate");
        settings.OptionalBool("locationEnabled");
        settings.OptionalBool("ageGating");
        if (settings["minAge"] is { } minAge)
        {
            // An integer from 1 to 99; a numeric string (what a form field sends) is stored as the number.
            long? age = minAge is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.Number && v.TryGetValue<long>(out var n) ? n
                : minAge is JsonValue sv && sv.TryGetValue<string>(out var text) && long.TryParse(text.Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var parsed) ? parsed
                : null;
            if (age is not (>= 1 and <= 99)) throw ApiProblem.BadRequest("settings.minAge must be an integer from 1 to 99.");
            settings["minAge"] = age.Value;
        }
        Scans.LeadCaptureSettings.Validate(settings);
    }

    /// <summary>
    /// Most folders a code can be in (folderId and folderIds together, distinct): each one costs six index rows and a counter in
    /// the code's transactions, and moving a code between that many folders must fit one entity-group transaction (100 operations).
    /// </summary>
    public const int MaxFolders = 6;

    /// <summary>The folders a code is listed in: its folderId and every entry of folderIds (its hierarchy), distinct.</summary>
    public static IReadOnlyList<string> FoldersOf(JsonObject qr)
    {
        var folders = new List<string>();
        if (qr["folderId"] is JsonValue f && f.TryGetValue<string>(out var folder) && folder.Length > 0) folders.Add(folder);
        if (qr["folderIds"] is JsonArray ids)
            foreach (var id in ids)
                if (id is JsonValue v && v.TryGetValue<string>(out var s) && s.Length > 0 && !folders.Contains(s)) folders.Add(s);
        return folders;
    }

    private static JsonArray ToArray(IEnumerable<string> items) => new(items.Select(s => (JsonNode)JsonValue.Create(s)).ToArray());
}
