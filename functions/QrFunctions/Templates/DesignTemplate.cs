using Azure;
using Azure.Data.Tables;

namespace QrFunctions.Templates;

/// <summary>
/// teamdata table, PartitionKey = teamId, RowKey = "template|{templateId}": a team's QR design templates,
/// listed with one prefix scan of the team's partition. Every team starts with a default one.
/// </summary>
public sealed class DesignTemplate : ITableEntity
{
    public const string RowPrefix = "template|";

    public string PartitionKey { get; set; } = "";
    public string RowKey { get; set; } = "";
    public DateTimeOffset? Timestamp { get; set; }
    public ETag ETag { get; set; }

    public string Id => RowKey[RowPrefix.Length..];
    public string Name { get; set; } = "";
    public string Description { get; set; } = "";
    public bool IsDefault { get; set; }
    /// <summary>JSON design: foregroundColor, backgroundColor (#RRGGBB), errorCorrection (L/M/Q/H), pixelsPerModule, quietZone.</summary>
    public string Design { get; set; } = "{}";
    public string? PreviewUrl { get; set; }
    public long CreatedAt { get; set; }

    public const string DefaultDesign = """{"foregroundColor":"#000000","backgroundColor":"#FFFFFF","errorCorrection":"M","pixelsPerModule":10,"quietZone":4}""";

    public static DesignTemplate DefaultFor(string teamId, long now) => new()
    {
        PartitionKey = teamId,
        RowKey = RowPrefix + "default",
        Name = "Default",
        Description = "Black on white, medium error correction.",
        IsDefault = true,
        Design = DefaultDesign,
        CreatedAt = now,
    };
}
