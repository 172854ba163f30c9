using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Azure.Functions.Worker;
using Microsoft.OpenApi;
using QrFunctions.Api;
using QrFunctions.Auth;

namespace QrFunctions.Hosting;

/// <summary>
/// GET /openapi/v1.json: every HTTP function as an operation (operationId = function name), built from the same
/// attributes the Functions SDK reads, so the document, functions.metadata and the development server's routes
/// cannot disagree. Credentials are documented as security schemes; public functions have none.
/// </summary>
[Public, Tags("Reference")]
public sealed class OpenApiDocumentFunction(FunctionCatalog catalog)
{
    public const string Route = "openapi/v1.json";

    // Built once per process: the functions cannot change while it runs.
    private static string? _json;

    [Function("OpenApiDocument"), EndpointSummary("This document")]
    public async Task<IResult> GetAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = Route)] HttpRequest req)
    {
        _json ??= await Build(catalog).SerializeAsJsonAsync(OpenApiSpecVersion.OpenApi3_1, req.HttpContext.RequestAborted);
        return Results.Text(_json, "application/json; charset=utf-8");
    }

    private const string ClientId = "clientId", ClientSecret = "clientSecret", Bearer = "bearer";

    public static OpenApiDocument Build(FunctionCatalog catalog)
    {
        var document = new OpenApiDocument
        {
            Info = new OpenApiInfo
            {
                Title = "QrFunctions API",
                Version = "v1",
                Description = "Surface A (/api/…): camelCase, {\"success\",\"data\"} envelope, credentials in x-request-team-id / x-request-client-id / "
                    + "x-request-client-secret. Surface B (/v1/…): snake_case, {\"error\":{\"code\",\"message\"}} envelope, Authorization: Bearer qr3_sk_…. "
                    + "Either credential form works on either surface.",
            },
            Paths = [],
            Components = new OpenApiComponents
            {
                SecuritySchemes = new Dictionary<string, IOpenApiSecurityScheme>
                {
                    [ClientId] = new OpenApiSecurityScheme { Type = SecuritySchemeType.ApiKey, In = ParameterLocation.Header, Name = AccessPolicy.ClientIdHeader, Description = "The key's id (with its secret)." },
                    [ClientSecret] = new OpenApiSecurityScheme { Type = SecuritySchemeType.ApiKey, In = ParameterLocation.Header, Name = AccessPolicy.ClientSecretHeader, Description = "The key's secret, shown once when it was created." },
                    [Bearer] = new OpenApiSecurityScheme { Type = SecuritySchemeType.Http, Scheme = "bearer", BearerFormat = "qr3_sk_…", Description = "The key as one bearer token." },
                },
            },
        };
        foreach (var function in catalog.HttpFunctions)
        {
            var path = "/" + string.Join('/', function.Pattern.PathSegments.Select(Segment));
            if (!document.Paths.TryGetValue(path, out var item))
                document.Paths[path] = item = new OpenApiPathItem { Operations = [] };
            foreach (var method in function.Methods)
                item.Operations![HttpMethod.Parse(method)] = Operation(document, function);
        }
        return document;
    }

    private static OpenApiOperation Operation(OpenApiDocument document, HttpFunction function)
    {
        var operation = new OpenApiOperation
        {
            OperationId = function.Name,
            Summary = function.Summary,
            Tags = function.Tags.Select(t => new OpenApiTagReference(t, document)).ToHashSet(),
            Parameters = function.Pattern.Parameters.Select(p => (IOpenApiParameter)new OpenApiParameter
            {
                Name = p.Name, In = ParameterLocation.Path, Required = true, Schema = new OpenApiSchema { Type = JsonSchemaType.String },
            }).ToList(),
            Responses = new OpenApiResponses
            {
                ["default"] = new OpenApiResponse
                {
                    Description = function.Access.Surface == ApiSurface.V1 ? "JSON, snake_case; errors as {\"error\":{\"code\",\"message\"}}" : "JSON {\"success\",\"data\"}; errors as {\"success\":false,\"message\"}",
                },
            },
        };
        if (function.Access.IsPublic) return operation;
        if (function.Access.TeamFromRoute is null)
            operation.Parameters.Add(new OpenApiParameter
            {
                Name = AccessPolicy.TeamHeader, In = ParameterLocation.Header, Required = false, Schema = new OpenApiSchema { Type = JsonSchemaType.String },
                Description = "The team (workspace) to act in; the key's own team when absent.",
            });
        if (function.Methods.Contains("post"))
            operation.Parameters.Add(new OpenApiParameter
            {
                Name = IdempotencyKeys.Header, In = ParameterLocation.Header, Required = false, Schema = new OpenApiSchema { Type = JsonSchemaType.String, MaxLength = IdempotencyKeys.MaxKeyLength },
                Description = "Up to 255 printable ASCII characters, unique per request (a UUID). The same request again with the same key within 24 hours "
                    + "gets the first answer again (with Idempotent-Replayed: true) and does nothing again; another request with the key is a 422, "
                    + "and one sent while the first still runs a 409 (retry it). Keys are scoped to the organization.",
            });
        operation.Security =
        [
            new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(ClientId, document)] = [], [new OpenApiSecuritySchemeReference(ClientSecret, document)] = [] },
            new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(Bearer, document)] = [] },
        ];
        var role = function.Access.RequiresOperator ? "an operator key" : $"the {Roles.Name(function.Access.Least)} role or higher";
        operation.Description = $"Needs {role}.";
        return operation;
    }

    /// <summary>OpenAPI writes a route parameter without its constraint or catch-all marker: {*rest:int} → {rest}.</summary>
    private static string Segment(RoutePatternPathSegment segment) => string.Concat(segment.Parts.Select(p => p switch
    {
        RoutePatternLiteralPart literal => literal.Content,
        RoutePatternParameterPart parameter => "{" + parameter.Name + "}",
        RoutePatternSeparatorPart separator => separator.Content,
        _ => "",
    }));
}
