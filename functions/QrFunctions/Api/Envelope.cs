using System.Text.Json.Nodes;

namespace QrFunctions.Api;

/// <summary>Success envelopes of both surfaces.</summary>
public static class Envelope
{
    /// <summary>Surface A: {"success": true, "data": …}.</summary>
    public static IResult Ok(object? data, int status = 200) =>
        Results.Json(new { success = true, data }, ApiJson.QrApi, statusCode: status);

    /// <summary>Surface A actions that return no data: {"success": true}.</summary>
    public static IResult Success(string? message = null) => message is null
        ? Results.Json(new { success = true }, ApiJson.QrApi)
        : Results.Json(new { success = true, message }, ApiJson.QrApi);

    /// <summary>Surface B single object, snake_case.</summary>
    public static IResult V1(object? data, int status = 200) => Results.Json(data, ApiJson.V1, statusCode: status);

    /// <summary>Surface B list: {"data": […], "next_cursor": …}.</summary>
    public static IResult V1List<T>(IEnumerable<T> items, string? nextCursor) =>
        Results.Json(new { data = items, next_cursor = nextCursor }, ApiJson.V1);

    /// <summary>A JSON object as stored (already in its final field names); Results.Json would re-case nothing in it.</summary>
    public static IResult OkNode(JsonNode? data, int status = 200) =>
        Results.Json(new JsonObject { ["success"] = true, ["data"] = data?.DeepClone() }, ApiJson.QrApi, statusCode: status);
}
