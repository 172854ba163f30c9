using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CsvHelper;
using CsvHelper.Configuration;
using QrFunctions.Api;

namespace QrFunctions.Bulk;

/// <summary>A row the bulk create refuses: its 1-based place in the batch, the field (when one is to blame) and why.</summary>
public sealed record BulkRowError(int Row, string? Field, string Message);

/// <summary>
/// A CSV upload as code definitions, the same fields as the JSON body (docs/bulk.md):
/// - the first line names the columns, each a field path: "name", "qrRedirectUrl", "metadata.website", "settings.passwordEnabled"
///   (dots make nested objects);
/// - a cell is text, except in the fields the API types: integers (expiryDate, settings.campaignStart, settings.campaignEnd,
///   settings.expiryDate), true/false (settings.passwordEnabled, settings.scheduleCampaign) and lists separated by "|" (tags,
///   folderIds); a column whose name ends in ":json" holds JSON for any field ("metadata:json", "metadata.links:json");
/// - an empty cell leaves the field out. Row 1 is the first line after the header.
/// Parsing (quotes, separators and line breaks inside quotes, RFC 4180) is CsvHelper's; a malformed row is reported, not guessed at.
/// </summary>
public static class BulkCsv
{
    private static readonly HashSet<string> Integers = ["expiryDate", "settings.campaignStart", "settings.campaignEnd", "settings.expiryDate"];
    private static readonly HashSet<string> Booleans = ["settings.passwordEnabled", "settings.scheduleCampaign"];
    private static readonly HashSet<string> Lists = ["tags", "folderIds"];
    private const string JsonSuffix = ":json";
    private const int MaxDepth = 4;
    private static readonly JsonDocumentOptions JsonCells = new() { MaxDepth = 32, AllowDuplicateProperties = false };

    /// <summary>The rows of <paramref name="utf8"/>: a code definition each, or null with its errors in <paramref name="errors"/>.</summary>
    public static List<JsonObject?> Read(byte[] utf8, List<BulkRowError> errors)
    {
        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(utf8).TrimStart('\uFEFF');
        }
        catch (DecoderFallbackException)
        {
            throw ApiProblem.BadRequest("The CSV is not UTF-8 text.");
        }
        var malformed = false;
        var config = new CsvConfiguration(CultureInfo.InvariantCulture)
        {
            BadDataFound = _ => malformed = true,
            MissingFieldFound = null,
            HeaderValidated = null,
            DetectColumnCountChanges = false,
            IgnoreBlankLines = true,
        };
        using var csv = new CsvReader(new StringReader(text), config);
        if (!csv.Read() || malformed) throw ApiProblem.BadRequest("The CSV has no header line naming its columns.");
        var header = csv.Parser.Record ?? [];
        var columns = header.Select(Column).ToList();
        var rows = new List<JsonObject?>();
        while (csv.Read())
        {
            var row = rows.Count + 1;
            if (row > BulkRows.MaxItems) throw ApiProblem.BadRequest($"A batch holds at most {BulkRows.MaxItems:N0} codes.");
            var cells = csv.Parser.Record ?? [];
            if (malformed)
            {
                errors.Add(new BulkRowError(row, null, "Malformed CSV: a quote is stray or not closed."));
                malformed = false;
                rows.Add(null);
                continue;
            }
            if (cells.Length > columns.Count)
            {
                errors.Add(new BulkRowError(row, null, $"The row has {cells.Length} cells; the header names {columns.Count} columns."));
                rows.Add(null);
                continue;
            }
            rows.Add(Code(row, columns, cells, errors));
        }
        return rows;
    }

    private sealed record ColumnPath(string Header, string[] Path, bool Json)
    {
        public string Field => string.Join('.', Path);
    }

    private static ColumnPath Column(string header, int index)
    {
        var json = header.EndsWith(JsonSuffix, StringComparison.Ordinal);
        var name = json ? header[..^JsonSuffix.Length] : header;
        var path = name.Split('.');
        if (name.Length == 0 || path.Any(p => p.Length == 0) || path.Length > MaxDepth)
            throw ApiProblem.BadRequest($"Column {index + 1} of the header ('{header}') is not a field path such as name or metadata.website.");
        return new ColumnPath(header, path, json);
    }

    /// <summary>One row as a code definition; null (and the reason in <paramref name="errors"/>) when a cell cannot be read.</summary>
    private static JsonObject? Code(int row, List<ColumnPath> columns, string[] cells, List<BulkRowError> errors)
    {
        var code = new JsonObject();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < cells.Length; i++)
        {
            var column = columns[i];
            if (cells[i].Length == 0) continue;
            if (!seen.Add(column.Field))
            {
                errors.Add(new BulkRowError(row, column.Field, $"{column.Field} is given by two columns."));
                return null;
            }
            if (Value(column, cells[i]) is not { } value)
            {
                errors.Add(new BulkRowError(row, column.Field, Problem(column)));
                return null;
            }
            var target = code;
            foreach (var part in column.Path[..^1])
            {
                target[part] ??= new JsonObject();
                if (target[part] is not JsonObject nested)
                {
                    errors.Add(new BulkRowError(row, column.Field, $"{column.Field}: {part} is not an object."));
                    return null;
                }
                target = nested;
            }
            var last = column.Path[^1];
            if (target[last] is JsonObject existing && value is JsonObject added)
                foreach (var (key, node) in added.ToList()) { added.Remove(key); existing[key] = node; } // metadata:json plus metadata.x
            else if (target.ContainsKey(last))
            {
                errors.Add(new BulkRowError(row, column.Field, $"{column.Field} is given by two columns."));
                return null;
            }
            else target[last] = value;
        }
        return code;
    }

    private static JsonNode? Value(ColumnPath column, string cell)
    {
        if (column.Json)
        {
            try { return IsUnicodeJson(cell) ? JsonNode.Parse(cell, documentOptions: JsonCells) : null; }
            catch (JsonException) { return null; }
        }
        var field = column.Field;
        if (Integers.Contains(field)) return long.TryParse(cell, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) ? n : null;
        if (Booleans.Contains(field))
            return cell.Trim().ToLowerInvariant() switch { "true" => true, "false" => false, _ => null };
        if (Lists.Contains(field)) return new JsonArray(cell.Split('|').Select(s => (JsonNode?)JsonValue.Create(s.Trim())).Where(s => s!.GetValue<string>().Length > 0).ToArray());
        return JsonValue.Create(cell);
    }

    /// <summary>Every string in the JSON reads as Unicode: an escaped lone surrogate ("\ud800") parses, and would only fail wherever it is read later.</summary>
    private static bool IsUnicodeJson(string cell)
    {
        var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(cell), new JsonReaderOptions { MaxDepth = JsonCells.MaxDepth });
        try
        {
            while (reader.Read())
                if (reader.TokenType is JsonTokenType.String or JsonTokenType.PropertyName) reader.GetString();
            return true;
        }
        catch (InvalidOperationException) { return false; }
    }

    private static string Problem(ColumnPath column) =>
        column.Json ? $"{column.Field} is not valid JSON (the column is {column.Header})."
        : Integers.Contains(column.Field) ? $"{column.Field} must be an integer."
        : $"{column.Field} must be true or false.";
}
