using System.Globalization;
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
    // A repeated key is refused ("Duplicate property 'name' …"): JsonObject would throw on it later, anywhere.
    private static readonly JsonDocumentOptions Parsing = new() { MaxDepth = 32, AllowDuplicateProperties = false };

    public static async Task<JsonObject> ReadObjectAsync(HttpContext context, bool allowEmpty = false, long maxBytes = ApiErrors.MaxJsonBodyBytes)
    {
        ApiErrors.LimitBody(context, maxBytes);
        JsonNode? node;
        try
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
            // The server's limit is off once a body was read before (a keyed POST's is read to hash it): the same limit here.
            if (buffer.Length > maxBytes) throw new ApiProblem(413, $"Request body is larger than {maxBytes / 1024} KB.");
            if (buffer.Length == 0)
            {
                if (allowEmpty) return [];
                throw ApiProblem.BadRequest("Request body is required (a JSON object).");
            }
            var json = buffer.ToArray();
            RefuseTextThatIsNotUnicode(json); // first: the duplicate check reads property names, and would throw on one
            node = JsonNode.Parse(json, documentOptions: Parsing);
        }
        catch (JsonException ex)
        {
            throw ApiProblem.BadRequest($"Malformed JSON body: {ex.Message}");
        }
        return node as JsonObject ?? throw ApiProblem.BadRequest("Request body must be a JSON object.");
    }

    /// <summary>
    /// The parser lets through a lone surrogate escaped in a string ("\ud800") and bytes that are not UTF-8; either only
    /// fails when that string is read, which may be anywhere (a field, the stored copy, the answer). So every string and
    /// property name is read once here, and the body refused if one is not Unicode text.
    /// </summary>
    private static void RefuseTextThatIsNotUnicode(byte[] json)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = Parsing.MaxDepth });
        string? property = null;
        while (reader.Read())
        {
            if (reader.TokenType is not (JsonTokenType.String or JsonTokenType.PropertyName)) continue;
            try
            {
                var text = reader.GetString();
                if (reader.TokenType == JsonTokenType.PropertyName) property = text;
            }
            catch (InvalidOperationException)
            {
                throw ApiProblem.BadRequest((reader.TokenType == JsonTokenType.String && property is not null ? $"{property}: a" : "A")
                    + " string in the body is not Unicode text (a lone surrogate or bytes that are not UTF-8).");
            }
        }
    }

    /// <summary>
    /// Table Storage refuses '/', '\', '#', '?' and control characters (U+0000–U+001F, U+007F–U+009F) in a PartitionKey or
    /// RowKey, and keys over 1 KiB. Ids from paths, queries, bodies and headers end up in keys, joined with a row prefix, so
    /// an id that breaks these rules (or is longer than <see cref="MaxIdLength"/>, which leaves room for the prefix) cannot
    /// name anything: it is the caller's error, refused before it reaches storage.
    /// </summary>
    public static bool IsStorableId(string? value, int maxLength = MaxIdLength) =>
        value is { Length: > 0 } && value.Length <= maxLength && value.IndexOfAny(['/', '\\', '#', '?']) < 0 && !value.Any(char.IsControl);

    public const int MaxIdLength = 256;

    /// <summary>Refuses an id that cannot be stored (400 naming the field); see <see cref="IsStorableId"/>.</summary>
    public static string Id(string value, string field) => IsStorableId(value) ? value : throw ApiProblem.BadRequest(NotAnId(field));

    public static string NotAnId(string field) => $"{field} is not a valid id: 1 to {MaxIdLength} characters, none of / \\ # ? or control characters.";

    public static string? OptionalId(this JsonObject obj, string field, int maxLength = MaxIdLength) =>
        obj.OptionalString(field, maxLength) is { } id ? Id(id, field) : null;

    public static string RequiredId(this JsonObject obj, string field, int maxLength = MaxIdLength) => Id(obj.RequiredString(field, maxLength), field);

    public static List<string>? OptionalIdArray(this JsonObject obj, string field, int maxItems = 100, int maxLength = MaxIdLength) =>
        obj.OptionalStringArray(field, maxItems, maxLength)?.Select(id => Id(id, field)).ToList();

    /// <summary>
    /// The form of a multipart or urlencoded body. One that breaks off (no closing boundary) or is malformed is the
    /// caller's error; the client going away is not answered at all.
    /// </summary>
    public static async Task<IFormCollection> ReadFormAsync(HttpContext context)
    {
        try
        {
            return await context.Request.ReadFormAsync(context.RequestAborted);
        }
        catch (Exception ex) when (ex is (InvalidDataException or IOException) and not BadHttpRequestException && !context.RequestAborted.IsCancellationRequested)
        {
            throw ApiProblem.BadRequest("Malformed form body: " + ex.Message);
        }
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

    /// <summary>An optional query parameter of epoch milliseconds (null when absent).</summary>
    public static long? QueryEpochMs(HttpContext context, string name)
    {
        var raw = context.Request.Query[name].ToString();
        if (raw.Length == 0) return null;
        if (!long.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value > 9_000_000_000_000L)
            throw ApiProblem.BadRequest($"{name} must be epoch milliseconds.");
        return value;
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
