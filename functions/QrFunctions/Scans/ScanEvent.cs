using System.Text.Json;
using System.Text.Json.Serialization;

namespace QrFunctions.Scans;

/// <summary>
/// One answered scan, as it travels in a queue message. Short property names keep a batch of ~100
/// events well under the queue's 64 KiB limit. No raw IP address: only the anonymized one and the
/// daily visitor hash.
/// </summary>
public sealed record ScanEvent
{
    [JsonPropertyName("q")] public string QrId { get; init; } = "";
    [JsonPropertyName("t")] public string TeamId { get; init; } = "";
    [JsonPropertyName("o")] public string OrgId { get; init; } = "";
    /// <summary>Scan time, epoch ms.</summary>
    [JsonPropertyName("ts")] public long ScanTime { get; init; }
    [JsonPropertyName("d")] public string Device { get; init; } = "";
    [JsonPropertyName("os")] public string Os { get; init; } = "";
    [JsonPropertyName("b")] public string Browser { get; init; } = "";
    [JsonPropertyName("c")] public string Country { get; init; } = "";
    [JsonPropertyName("ci")] public string City { get; init; } = "";
    [JsonPropertyName("ip")] public string IpAddress { get; init; } = "";
    [JsonPropertyName("r")] public string Referrer { get; init; } = "";
    [JsonPropertyName("l")] public string Language { get; init; } = "";
    [JsonPropertyName("bot")] public bool IsBot { get; init; }
    [JsonPropertyName("br")] public string? BotReason { get; init; }
    /// <summary>HMAC-SHA256(daily salt, raw IP + UA), hex: counts unique visitors per day without keeping the IP.</summary>
    [JsonPropertyName("v")] public string VisitorHash { get; init; } = "";
}

/// <summary>One queue message: every event of one group commit, under an id that makes its redelivery recognisable.</summary>
public sealed record ScanBatch
{
    [JsonPropertyName("batchId")] public string BatchId { get; init; } = "";
    [JsonPropertyName("events")] public List<ScanEvent> Events { get; init; } = [];

    public static readonly JsonSerializerOptions Json = new()
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        // Names and cities may be any script: keep them readable but still safe JSON.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
}
