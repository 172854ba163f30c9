using System.Text.Json;
using System.Text.Json.Nodes;

namespace QrFunctions.Api;

/// <summary>
/// Reads request bodies as JSON objects and pulls typed fields out with 400s that name the field.
/// Bodies are parsed by hand rather than bound, because clients send unknown extra fields that must
/// be kept, and because a binder's errors do not say which field was wrong.
/// </summary>
public static class RequestJson
{
    public static async Task<JsonObject> ReadObjectAsync(HttpContext context, bool allowEmpty = false)
    {
        ApiErrors.LimitBody(context, ApiErrors.MaxJsonBodyBytes);
        JsonNode? node;
        try
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
            if (buffer.Length == 0)
            {
                if (allowEmpty) return [];
                throw ApiProblem.BadRequest("Request body is required (a JSON object).");
            }
            node = JsonNode.Parse(buffer.ToArray(), documentOptions: new JsonDocumentOptions { MaxDepth = 32 });
        }
        catch (JsonException ex)
        {
            throw ApiProblem.BadRequest($"Malformed JSON body: {ex.Message}");
        }
        return node as JsonObject ?? throw ApiProblem.BadRequest("Request body must be a JSON object.");
    }

    public static string? OptionalString(this JsonObject obj, string field, int maxLength = 2048)
    {
        var node = obj[field];
        if (node is null) return null;
        if (node is not JsonValue v || !v.TryGetValue<string>(out var s))
            throw ApiProblem.BadRequest($"{field} must be a string.");
        if (s.Length > maxLength) throw ApiProblem.BadRequest($"{field} must be at most {maxLength} characters.");
        return s;
    }

    public static string RequiredString(this JsonObject obj, string field, int maxLength = 2048)
    {
        var s = obj.OptionalString(field, maxLength);
        if (string.IsNullOrWhiteSpace(s)) throw ApiProblem.BadRequest($"{field} is required.");
        return s;
    }

    public static bool? OptionalBool(this JsonObject obj, string field)
    {
        var node = obj[field];
        if (node is null) return null;
        if (node is JsonValue v && v.TryGetValue<bool>(out var b)) return b;
        throw ApiProblem.BadRequest($"{field} must be true or false.");
    }

    public static long? OptionalLong(this JsonObject obj, string field)
    {
        var node = obj[field];
        if (node is null) return null;
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<long>(out var l)) return l;
        throw ApiProblem.BadRequest($"{field} must be an integer.");
    }

    public static long RequiredLong(this JsonObject obj, string field) =>
        obj.OptionalLong(field) ?? throw ApiProblem.BadRequest($"{field} is required.");

    public static List<string>? OptionalStringArray(this JsonObject obj, string field, int maxItems = 100, int maxLength = 256)
    {
        var node = obj[field];
        if (node is null) return null;
        if (node is not JsonArray array) throw ApiProblem.BadRequest($"{field} must be an array of strings.");
        if (array.Count > maxItems) throw ApiProblem.BadRequest($"{field} must have at most {maxItems} items.");
        var list = new List<string>(array.Count);
        foreach (var item in array)
        {
            if (item is not JsonValue v || !v.TryGetValue<string>(out var s))
                throw ApiProblem.BadRequest($"{field} must be an array of strings.");
            if (s.Length > maxLength) throw ApiProblem.BadRequest($"{field} items must be at most {maxLength} characters.");
            list.Add(s);
        }
        return list;
    }

    public static JsonObject? OptionalObject(this JsonObject obj, string field)
    {
        var node = obj[field];
        if (node is null) return null;
        return node as JsonObject ?? throw ApiProblem.BadRequest($"{field} must be an object.");
    }

    /// <summary>An absolute http(s) URL; anything else (javascript:, relative, data:) is refused.</summary>
    public static bool IsHttpUrl(string? value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri)
        && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
        && !string.IsNullOrEmpty(uri.Host);

    public static string? OptionalHttpUrl(this JsonObject obj, string field)
    {
        var s = obj.OptionalString(field, 2048);
        if (s is null) return null;
        if (!IsHttpUrl(s)) throw ApiProblem.BadRequest($"{field} must be an absolute http or https URL.");
        return s;
    }

    public static int QueryInt(HttpContext context, string name, int @default, int min, int max)
    {
        var raw = context.Request.Query[name].ToString();
        if (raw.Length == 0) return @default;
        if (!int.TryParse(raw, out var value) || value < min || value > max)
            throw ApiProblem.BadRequest($"{name} must be an integer from {min} to {max}.");
        return value;
    }
}
