using Microsoft.Azure.Functions.Worker;
using QrFunctions.Api;
using QrFunctions.Auth;

namespace QrFunctions.Hosting;

/// <summary>
/// Any other path under /api or /v1 (and anywhere else): 405 with Allow when another function serves the path with other
/// methods, else 404, in the surface's envelope. Under the Functions host a path no function matches gets the host's own empty 404, so each
/// surface needs a function of its own that matches everything under its prefix. The host tries functions in name order
/// (OrdinalIgnoreCase) and runs the first whose template and method fit, and the development server copies that order:
/// the "Zz" names sort after every other function, so these only get what nothing else serves (FunctionCatalog refuses
/// a function whose name would sort after them). No credentials: an unknown path is not worth a key lookup.
/// </summary>
[Tags("Reference")]
public sealed class UnmatchedRoutes(FunctionCatalog catalog)
{
    [Function("ZzUnmatchedApi"), Public(ApiSurface.QrApi), EndpointSummary("Any other path under /api: 404, or 405 with Allow")]
    public IResult Api([HttpTrigger(AuthorizationLevel.Anonymous, "get", "head", "post", "put", "patch", "delete", "options", Route = "api/{*rest}")] HttpRequest req) =>
        throw Unmatched(req);

    [Function("ZzUnmatchedV1"), Public(ApiSurface.V1), EndpointSummary("Any other path under /v1: 404, or 405 with Allow")]
    public IResult V1([HttpTrigger(AuthorizationLevel.Anonymous, "get", "head", "post", "put", "patch", "delete", "options", Route = "v1/{*rest}")] HttpRequest req) =>
        throw Unmatched(req);

    /// <summary>
    /// Any other path at all (a POST to a queue function's name, a path of several unknown segments): sorts after the two
    /// surfaces' catch-alls ("Zzz"), so /api and /v1 paths still get theirs. The host answers /, /admin and /runtime itself.
    /// </summary>
    [Function("ZzzUnmatchedPath"), Public(ApiSurface.QrApi), EndpointSummary("Any other path: 404, or 405 with Allow")]
    public IResult Other([HttpTrigger(AuthorizationLevel.Anonymous, "get", "head", "post", "put", "patch", "delete", "options", Route = "{*rest}")] HttpRequest req) =>
        throw Unmatched(req);

    /// <summary>The refusal, rendered by the policy runner in the function's surface.</summary>
    private ApiProblem Unmatched(HttpRequest req)
    {
        var allowed = catalog.MethodsAt(req.Path);
        if (allowed.Count == 0) return ApiProblem.NotFound($"No endpoint at {req.Path}.");
        var problem = new ApiProblem(405, $"{req.Method} is not allowed on {req.Path}; it allows {string.Join(", ", allowed)}.");
        problem.Headers["Allow"] = string.Join(", ", allowed);
        return problem;
    }
}
