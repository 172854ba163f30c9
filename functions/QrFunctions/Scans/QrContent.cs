using System.Text.Json;
using System.Text.Json.Nodes;

namespace QrFunctions.Scans;

/// <summary>Reads a published Qr's fields the way CreateQrRequest allows them: type-specific fields top-level or in metadata.</summary>
public static class QrContent
{
    public static string Type(JsonObject qr) => Text(qr, "qrType").ToUpperInvariant();

    /// <summary>A scalar field as text (numbers too), top-level first, then metadata; "" when absent.</summary>
    public static string Text(JsonObject qr, string field, int maxLength = 4096)
    {
        var value = TextOf(qr[field]);
        if (value.Length == 0 && qr["metadata"] is JsonObject meta) value = TextOf(meta[field]);
        return value.Length <= maxLength ? value : value[..maxLength];
    }

    public static string TextOf(JsonNode? node) => node is JsonValue v
        ? v.GetValueKind() switch
        {
            JsonValueKind.String => v.GetValue<string>().Trim(),
            JsonValueKind.Number => v.ToJsonString(),
            _ => "",
        }
        : "";

    public static long? Number(JsonNode? node) =>
        node is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<double>(out var d) && !double.IsNaN(d) ? (long)d : null;

    public static bool Flag(JsonNode? node) => node is JsonValue v && (v.GetValueKind() == JsonValueKind.True
        || (v.GetValueKind() == JsonValueKind.String && v.GetValue<string>().Equals("true", StringComparison.OrdinalIgnoreCase)));

    /// <summary>The objects of an array field (top-level first, then metadata), at most <paramref name="max"/>.</summary>
    public static IEnumerable<JsonObject> Items(JsonObject qr, string field, int max = 200)
    {
        var array = qr[field] as JsonArray;
        if (array is null && qr["metadata"] is JsonObject meta) array = meta[field] as JsonArray;
        return array is null ? [] : array.OfType<JsonObject>().Take(max);
    }

    /// <summary>An absolute http(s) URL, else null: javascript:, data: and relative URLs are never served or linked.</summary>
    public static string? HttpUrl(string? value) =>
        Api.RequestJson.IsHttpUrl(value) ? new Uri(value!).AbsoluteUri : null;

    /// <summary>An absolute https URL, else null: content images are loaded only over https.</summary>
    public static string? HttpsUrl(string? value) =>
        HttpUrl(value) is { } url && url.StartsWith("https://", StringComparison.Ordinal) ? url : null;

    /// <summary>A flag field, top-level first, then metadata; <paramref name="absent"/> when neither has it.</summary>
    public static bool Flag(JsonObject qr, string field, bool absent)
    {
        var node = qr[field] ?? (qr["metadata"] as JsonObject)?[field];
        return node is null ? absent : Flag(node);
    }

    public static JsonObject Settings(JsonObject qr) => qr["settings"] as JsonObject ?? [];
}
