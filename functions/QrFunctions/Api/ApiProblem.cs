namespace QrFunctions.Api;

/// <summary>
/// A request the API refuses with a 4xx. Thrown from validation and lookups, rendered once by
/// <see cref="ApiErrors"/> in the envelope of the endpoint's surface.
/// </summary>
public sealed class ApiProblem(int status, string message, string? code = null) : Exception(message)
{
    public int Status { get; } = status;

    /// <summary>Machine-readable code for surface B (e.g. invalid_request, not_found).</summary>
    public string Code { get; } = code ?? DefaultCode(status);

    public IDictionary<string, string> Headers { get; } = new Dictionary<string, string>();

    public static ApiProblem BadRequest(string message) => new(400, message, "invalid_request");
    public static ApiProblem NotFound(string message) => new(404, message, "not_found");
    public static ApiProblem Forbidden(string message) => new(403, message, "forbidden");
    public static ApiProblem Unauthorized() => new(401, "Invalid credentials!", "unauthorized");
    public static ApiProblem Conflict(string message) => new(409, message, "conflict");

    private static string DefaultCode(int status) => status switch
    {
        400 => "invalid_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        409 => "conflict",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        429 => "rate_limited",
        503 => "unavailable",
        _ => "error",
    };
}
