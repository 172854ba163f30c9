using System.Text.Json;

namespace QrFunctions.Hosting;

/// <summary>
/// The custom-handler side of a queue trigger: the Functions host POSTs {"Data":{binding: message},
/// "Metadata":{"Id","DequeueCount",…}} to /{FunctionName}. A 2xx with {"Outputs":{},"Logs":[],
/// "ReturnValue":null} completes the message; anything else makes the host retry and finally poison it.
/// </summary>
public static class QueueInvocationEndpoints
{
    /// <summary>The binding name used in every generated queue function.json.</summary>
    public const string BindingName = "message";

    public static void MapQueueInvocations(this IEndpointRouteBuilder app, IEnumerable<QueueTrigger> triggers)
    {
        foreach (var trigger in triggers)
        {
            app.MapPost("/" + trigger.Name, async (HttpContext context, IServiceProvider services, ILoggerFactory logs) =>
                {
                    var log = logs.CreateLogger("QrFunctions.Queue." + trigger.Name);
                    QueueMessage message;
                    try
                    {
                        message = await ReadInvocationAsync(context);
                    }
                    catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException or KeyNotFoundException)
                    {
                        log.LogError(ex, "Malformed invocation payload for {Function}", trigger.Name);
                        return Answer(400, "Malformed invocation payload: " + ex.Message);
                    }
                    var handler = (IQueueMessageHandler)services.GetRequiredService(trigger.Handler);
                    try
                    {
                        await handler.HandleAsync(message, context.RequestAborted);
                    }
                    catch (Exception ex) when (!context.RequestAborted.IsCancellationRequested)
                    {
                        log.LogError(ex, "Queue message {Id} of {Function} failed on try {Try}", message.Id, trigger.Name, message.DequeueCount);
                        return Answer(500, $"failed: {ex.GetType().Name}: {ex.Message}");
                    }
                    return Answer(200, null);
                })
                .WithName(trigger.Name)
                .WithMetadata(trigger)
                .ExcludeFromDescription();
        }
    }

    // The host reads Outputs/Logs/ReturnValue by these exact names: no camel-casing.
    private static readonly JsonSerializerOptions HostJson = new();

    private static IResult Answer(int status, string? log) =>
        Results.Json(new { Outputs = new { }, Logs = log is null ? Array.Empty<string>() : [log], ReturnValue = (object?)null }, HostJson, statusCode: status);

    /// <summary>Reads the host's payload. The message arrives as a JSON string, or as parsed JSON when the message was a JSON document.</summary>
    public static async Task<QueueMessage> ReadInvocationAsync(HttpContext context)
    {
        using var doc = await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
        var root = doc.RootElement;
        var data = root.GetProperty("Data");
        var item = data.TryGetProperty(BindingName, out var named) ? named : data.EnumerateObject().First().Value;
        var body = item.ValueKind == JsonValueKind.String ? item.GetString()! : item.GetRawText();
        var id = "";
        long dequeueCount = 1;
        if (root.TryGetProperty("Metadata", out var meta) && meta.ValueKind == JsonValueKind.Object)
        {
            if (meta.TryGetProperty("Id", out var idEl) && idEl.ValueKind == JsonValueKind.String) id = idEl.GetString()!;
            if (meta.TryGetProperty("DequeueCount", out var dc))
                dequeueCount = dc.ValueKind == JsonValueKind.Number ? dc.GetInt64() : long.Parse(dc.GetString()!);
        }
        return new QueueMessage(id, body, dequeueCount);
    }
}
