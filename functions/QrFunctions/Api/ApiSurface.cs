using System.Text.Json;
using System.Text.Json.Serialization;

namespace QrFunctions.Api;

/// <summary>The two public API surfaces: their JSON naming and error envelopes differ, their data does not.</summary>
public enum ApiSurface
{
    /// <summary>QR-code API under /api: camelCase, {"success":…,"data":…} / {"success":false,"message":…}.</summary>
    QrApi,
    /// <summary>Organizations API under /v1: snake_case, {"error":{"code","message"}}.</summary>
    V1,
}

public static class ApiJson
{
    public static readonly JsonSerializerOptions QrApi = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public static readonly JsonSerializerOptions V1 = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    public static JsonSerializerOptions For(ApiSurface surface) => surface == ApiSurface.V1 ? V1 : QrApi;
}
