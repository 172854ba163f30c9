using System.Text;
using System.Text.Json.Nodes;
using Azure.Data.Tables;

namespace QrFunctions.Storage;

/// <summary>
/// Stores a JSON document in a table entity across binary properties of up to 64 KB each
/// ({name}0, {name}1, …), because one property holds at most 64 KB while an entity holds 1 MB.
/// </summary>
public static class EntityJson
{
    private const int ChunkBytes = 60 * 1024;
    public const int MaxBytes = 14 * ChunkBytes;

    public static void Write(TableEntity entity, string name, JsonNode? json)
    {
        for (var i = 0; entity.ContainsKey(name + i); i++) entity.Remove(name + i);
        if (json is null) return;
        var bytes = Encoding.UTF8.GetBytes(json.ToJsonString());
        if (bytes.Length > MaxBytes) throw new Api.ApiProblem(413, $"The stored document would be larger than {MaxBytes / 1024} KB.");
        for (int i = 0, offset = 0; offset < bytes.Length; i++, offset += ChunkBytes)
            entity[name + i] = bytes.AsSpan(offset, Math.Min(ChunkBytes, bytes.Length - offset)).ToArray();
    }

    public static JsonObject? Read(TableEntity entity, string name)
    {
        if (!entity.ContainsKey(name + "0")) return null;
        using var buffer = new MemoryStream();
        for (var i = 0; entity.TryGetValue(name + i, out var part) && part is byte[] bytes; i++) buffer.Write(bytes);
        return JsonNode.Parse(buffer.ToArray()) as JsonObject;
    }
}
