using System.Buffers;
using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace QrFunctions.Scans;

/// <summary>
/// One answered scan, as it travels in a queue message. Short property names keep batches small. No raw
/// IP address: only the anonymized one and the daily visitor hash.
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

    /// <summary>
    /// null: a scan. Otherwise what a later step of a recorded scan adds to it (docs/scans.md#scan-flow), never counted as a
    /// scan itself: <see cref="Kinds.Location"/> (the shared position) or <see cref="Kinds.Declined"/> (the age gate said no).
    /// Such an event carries the scan's own time and id.
    /// </summary>
    [JsonPropertyName("k")] public string? Kind { get; init; }
    /// <summary>The scan's random id (32 hex), set when its code has steps that may add to it later.</summary>
    [JsonPropertyName("sid")] public string? ScanId { get; init; }
    /// <summary>A shared position, rounded to 3 decimals (about 100 m).</summary>
    [JsonPropertyName("la")] public double? Latitude { get; init; }
    [JsonPropertyName("lo")] public double? Longitude { get; init; }
    /// <summary>When the visitor answered the step (Unix µs): of two positions shared for one scan, the earlier one is kept.</summary>
    [JsonPropertyName("at")] public long? AnsweredAt { get; init; }

    public static class Kinds
    {
        public const string Location = "location";
        public const string Declined = "declined";
    }
}

/// <summary>
/// One queue message: every event of one group commit, under an id that makes its redelivery recognisable.
/// The batcher writes the events as a gzip-compressed JSON array ("eventsGzip"): scans of one code repeat
/// most fields (the random visitor hash dominates: ~40 bytes per scan), so 500 scans fit a 64 KiB message
/// instead of ~100 and a busy service writes fewer messages. Plain "events" are read too (older messages).
/// </summary>
public sealed record ScanBatch
{
    /// <summary>Largest decompressed events array accepted: 500 events of the longest clipped fields (~1.3 KB each) fit well under it.</summary>
    public const int MaxEventsJsonBytes = 4 * 1024 * 1024;

    /// <summary>A scan batch's life in the queue (Azure's default, stated): the aggregator keeps redelivery markers a day longer (ScanStatRows.MarkerRetention).</summary>
    public static readonly TimeSpan TimeToLive = TimeSpan.FromDays(7);

    [JsonPropertyName("batchId")] public string BatchId { get; init; } = "";
    [JsonPropertyName("events")] public List<ScanEvent> Events { get; init; } = [];
    [JsonPropertyName("eventsGzip")] public byte[]? EventsGzip { get; init; }

    public static readonly JsonSerializerOptions Json = new()
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        // Names and cities may be any script: keep them readable but still safe JSON.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>The message text: {"batchId":"…","eventsGzip":"base64 of gzip([event,…])"}.</summary>
    public static BinaryData Message(string batchId, byte[] eventsGzip)
    {
        var buffer = new ArrayBufferWriter<byte>(eventsGzip.Length * 4 / 3 + 80);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("batchId", batchId);
            json.WriteBase64String("eventsGzip", eventsGzip);
            json.WriteEndObject();
        }
        return new BinaryData(buffer.WrittenMemory);
    }

    /// <summary>gzip of the JSON array of already serialized events.</summary>
    public static byte[] Compress(IReadOnlyList<byte[]> events)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.WriteByte((byte)'[');
            for (var i = 0; i < events.Count; i++)
            {
                if (i > 0) gzip.WriteByte((byte)',');
                gzip.Write(events[i]);
            }
            gzip.WriteByte((byte)']');
        }
        return output.ToArray();
    }

    /// <summary>The events of "eventsGzip"; throws FormatException when it is not gzip or inflates beyond <see cref="MaxEventsJsonBytes"/>.</summary>
    public static List<ScanEvent> Decompress(byte[] eventsGzip)
    {
        using var json = new MemoryStream();
        try
        {
            using var gzip = new GZipStream(new MemoryStream(eventsGzip), CompressionMode.Decompress);
            var chunk = new byte[16 * 1024];
            int read;
            while ((read = gzip.Read(chunk)) > 0)
            {
                if (json.Length + read > MaxEventsJsonBytes) throw new FormatException("Scan batch events inflate beyond the limit.");
                json.Write(chunk, 0, read);
            }
        }
        catch (InvalidDataException ex)
        {
            throw new FormatException("Scan batch eventsGzip is not gzip data.", ex);
        }
        try
        {
            return JsonSerializer.Deserialize<List<ScanEvent>>(json.GetBuffer().AsSpan(0, (int)json.Length), Json)
                ?? throw new FormatException("Scan batch eventsGzip holds no events array.");
        }
        catch (JsonException ex)
        {
            throw new FormatException("Scan batch eventsGzip is not a JSON array of events: " + ex.Message, ex);
        }
    }
}
