using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Xunit;

namespace QrFunctions.Tests.Infrastructure;

/// <summary>Small helpers for calling the API and reading its envelopes in tests.</summary>
public static class ApiCalls
{
    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");
    public static StringContent Json(object value) => new(JsonSerializer.Serialize(value), Encoding.UTF8, "application/json");

    public static async Task<JsonElement> BodyAsync(this HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

    /// <summary>Asserts the status and returns surface A's "data".</summary>
    public static async Task<JsonElement> DataAsync(this HttpResponseMessage response, HttpStatusCode expected = HttpStatusCode.OK)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"expected {(int)expected}, got {(int)response.StatusCode}: {text}");
        var body = JsonDocument.Parse(text).RootElement;
        Assert.True(body.GetProperty("success").GetBoolean(), text);
        return body.GetProperty("data");
    }

    /// <summary>Asserts a surface A error: status, success:false, and a message containing <paramref name="contains"/>.</summary>
    public static async Task<string> ErrorAsync(this HttpResponseMessage response, HttpStatusCode expected, string? contains = null)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"expected {(int)expected}, got {(int)response.StatusCode}: {text}");
        var body = JsonDocument.Parse(text).RootElement;
        Assert.False(body.GetProperty("success").GetBoolean());
        var message = body.GetProperty("message").GetString()!;
        if (contains is not null) Assert.Contains(contains, message);
        return message;
    }

    public static async Task<JsonElement> DataAsync(this Task<HttpResponseMessage> response, HttpStatusCode expected = HttpStatusCode.OK) =>
        await (await response).DataAsync(expected);

    /// <summary>Surface A actions that answer {"success": true} without data.</summary>
    public static async Task<JsonElement> OkAsync(this Task<HttpResponseMessage> response)
    {
        var r = await response;
        var text = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == HttpStatusCode.OK, $"expected 200, got {(int)r.StatusCode}: {text}");
        var body = JsonDocument.Parse(text).RootElement;
        Assert.True(body.GetProperty("success").GetBoolean(), text);
        return body;
    }

    public static async Task<string> ErrorAsync(this Task<HttpResponseMessage> response, HttpStatusCode expected, string? contains = null) =>
        await (await response).ErrorAsync(expected, contains);

    public static Task<HttpResponseMessage> PostJsonAsync(this HttpClient client, string url, object body) => client.PostAsync(url, Json(body));
    public static Task<HttpResponseMessage> PutJsonAsync(this HttpClient client, string url, object body) => client.PutAsync(url, Json(body));
    public static Task<HttpResponseMessage> PatchJsonAsync(this HttpClient client, string url, object body) => client.PatchAsync(url, Json(body));
}
