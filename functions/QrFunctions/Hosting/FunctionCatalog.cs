using System.Diagnostics;
using System.Reflection;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.AspNetCore.Routing.Template;
using Microsoft.Azure.Functions.Worker;
using QrFunctions.Api;
using QrFunctions.Auth;

namespace QrFunctions.Hosting;

/// <summary>What an HTTP function declares about its callers, resolved once from its attributes.</summary>
public sealed record FunctionAccess(ApiSurface Surface, bool IsPublic, Role Least, TeamFromRouteAttribute? TeamFromRoute, bool RequiresOperator, bool LimitedPerClientAddress,
    bool OwnerReachesArchivedTeam = false, bool AnswersPages = false);

/// <summary>An HTTP-triggered function: its route (no leading slash, as the host takes it) and lowercase methods.</summary>
public sealed record HttpFunction(string Name, MethodInfo Method, string Route, IReadOnlyList<string> Methods, FunctionAccess Access,
    string? Summary, IReadOnlyList<string> Tags)
{
    public RoutePattern Pattern { get; } = RoutePatternFactory.Parse(Route);

    /// <summary>A surface's catch-all ("api/{*rest}"): it answers paths no other function serves.</summary>
    public bool IsCatchAll => Pattern.Parameters.Any(p => p.IsCatchAll);

    /// <summary>Route values that name something (ids, tokens, emails, times): every one is checked as an id before the function runs.</summary>
    public IReadOnlyList<string> IdParameters => field ??= Pattern.Parameters.Where(p => !p.IsCatchAll).Select(p => p.Name).ToList();

    /// <summary>Whether the route matches the path, as the host's route table matches it (template only, methods aside).</summary>
    public bool Matches(PathString path) => (_matcher ??= new(new RouteTemplate(Pattern), new RouteValueDictionary())).TryMatch(path, new RouteValueDictionary());

    private TemplateMatcher? _matcher;
}

/// <summary>A queue-triggered function and the queue it reads (the unprefixed name, as in infra/storage-names.json).</summary>
public sealed record QueueFunction(string Name, MethodInfo Method, string Queue);

/// <summary>
/// Every [Function] of the app, found once by reflection over the same attributes the Functions SDK turns into
/// functions.metadata. It is the one list of routes and queues: the development server maps and polls it, the
/// worker middleware looks up each invocation's declared access in it, and the OpenAPI document is built from it.
/// Building it checks what the SDK cannot: every HTTP function says who may call it, names are unique, and the
/// development server can bind every parameter the host would.
/// </summary>
public sealed class FunctionCatalog
{
    public static FunctionCatalog App { get; } = new(typeof(FunctionCatalog).Assembly.GetTypes());

    private readonly Dictionary<string, HttpFunction> _http;

    public FunctionCatalog(IEnumerable<Type> types)
    {
        var http = new List<HttpFunction>();
        var queues = new List<QueueFunction>();
        foreach (var method in types.SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly)))
        {
            if (method.GetCustomAttribute<FunctionAttribute>() is not { } function) continue;
            var parameters = method.GetParameters();
            if (parameters.FirstOrDefault()?.GetCustomAttribute<HttpTriggerAttribute>() is { } httpTrigger)
                http.Add(Http(function.Name, method, httpTrigger));
            else if (parameters.FirstOrDefault()?.GetCustomAttribute<QueueTriggerAttribute>() is { } queueTrigger)
                queues.Add(Queue(function.Name, method, queueTrigger));
            else
                throw Invalid(function.Name, "its first parameter must carry [HttpTrigger] or [QueueTrigger]");
        }
        var duplicates = http.Select(f => f.Name).Concat(queues.Select(q => q.Name)).GroupBy(n => n, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1).ToList();
        if (duplicates.Count > 0) throw new InvalidOperationException("Two functions share a name: " + string.Join(", ", duplicates.Select(g => g.Key)));
        // The host's order: its route table lists functions by name (OrdinalIgnoreCase) and the first match wins.
        HttpFunctions = http.OrderBy(f => f.Name, StringComparer.OrdinalIgnoreCase).ToList();
        if (HttpFunctions.SkipWhile(f => !f.IsCatchAll).FirstOrDefault(f => !f.IsCatchAll) is { } shadowed)
            throw Invalid(shadowed.Name, "its name sorts after a catch-all function's, which the host would run instead; catch-alls must sort last");
        QueueFunctions = queues.OrderBy(f => f.Name, StringComparer.OrdinalIgnoreCase).ToList();
        _http = HttpFunctions.ToDictionary(f => f.Name, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>In the order the Functions host matches routes: by name, first match wins.</summary>
    public IReadOnlyList<HttpFunction> HttpFunctions { get; }

    public IReadOnlyList<QueueFunction> QueueFunctions { get; }

    public HttpFunction? FindHttp(string name) => _http.GetValueOrDefault(name);

    /// <summary>The methods of the functions (catch-alls aside) whose route matches <paramref name="path"/>, uppercase, for a 405's Allow.</summary>
    public IReadOnlyList<string> MethodsAt(PathString path) => HttpFunctions
        .Where(f => !f.IsCatchAll && f.Matches(path))
        .SelectMany(f => f.Methods).Select(m => m.ToUpperInvariant()).Distinct().Order(StringComparer.Ordinal).ToList();

    /// <summary>The Functions host serves these first path segments itself (admin API, runtime endpoints).</summary>
    public static readonly IReadOnlyList<string> HostSegments = ["admin", "runtime"];

    /// <summary>
    /// First path segments that are literal in some route, or the host's own (case-insensitive): a scan path equal to
    /// one could reach another function, or the host, instead of the scan, so no displayId may take them.
    /// </summary>
    public IReadOnlySet<string> ReservedFirstSegments => _reserved ??= HttpFunctions
        .Select(f => f.Pattern.PathSegments.FirstOrDefault())
        .Where(s => s is { IsSimple: true } && s.Parts[0] is RoutePatternLiteralPart)
        .Select(s => ((RoutePatternLiteralPart)s!.Parts[0]).Content)
        .Concat(HostSegments)
        .ToHashSet(StringComparer.OrdinalIgnoreCase);

    private IReadOnlySet<string>? _reserved;

    private static HttpFunction Http(string name, MethodInfo method, HttpTriggerAttribute trigger)
    {
        if (trigger.AuthLevel != AuthorizationLevel.Anonymous) throw Invalid(name, "AuthorizationLevel must be Anonymous: FunctionPolicy checks credentials");
        if (string.IsNullOrEmpty(trigger.Route)) throw Invalid(name, "it needs an explicit Route");
        if (trigger.Methods is not { Length: > 0 }) throw Invalid(name, "it needs explicit methods (HEAD is not implied by GET under the host)");
        if (method.GetParameters()[0].ParameterType != typeof(HttpRequest)) throw Invalid(name, "its trigger parameter must be an HttpRequest");
        if (!typeof(IResult).IsAssignableFrom(method.ReturnType) && method.ReturnType != typeof(Task<IResult>))
            throw Invalid(name, "it must return IResult or Task<IResult>");
        var pattern = RoutePatternFactory.Parse(trigger.Route);
        foreach (var p in method.GetParameters().Skip(1))
            if (p.ParameterType != typeof(string) || pattern.GetParameter(p.Name!) is null)
                throw Invalid(name, $"parameter '{p.Name}' is not a route value; read the rest from the HttpRequest");

        var type = method.DeclaringType!;
        var declared = (Attribute?)method.GetCustomAttribute<ApiAccessAttribute>() ?? method.GetCustomAttribute<PublicAttribute>()
            ?? (Attribute?)type.GetCustomAttribute<ApiAccessAttribute>() ?? type.GetCustomAttribute<PublicAttribute>()
            ?? throw Invalid(name, "it declares neither [ApiAccess] nor [Public]: nothing is anonymous by accident");
        var teamFromRoute = method.GetCustomAttribute<TeamFromRouteAttribute>();
        if (teamFromRoute is not null && pattern.GetParameter(teamFromRoute.Parameter) is null)
            throw Invalid(name, $"[TeamFromRoute] names '{teamFromRoute.Parameter}', which is not in its route");
        var access = declared switch
        {
            ApiAccessAttribute a => new FunctionAccess(a.Surface, false, method.GetCustomAttribute<RequiresAttribute>()?.Role ?? a.Least, teamFromRoute,
                method.GetCustomAttribute<RequiresOperatorAttribute>() is not null, method.GetCustomAttribute<LimitedPerClientAddressAttribute>() is not null,
                method.GetCustomAttribute<OwnerReachesArchivedTeamAttribute>() is not null),
            PublicAttribute p => new FunctionAccess(p.Surface, true, Role.Viewer, null, false, method.GetCustomAttribute<LimitedPerClientAddressAttribute>() is not null,
                AnswersPages: (method.GetCustomAttribute<AnswersPagesAttribute>() ?? type.GetCustomAttribute<AnswersPagesAttribute>()) is not null),
            _ => throw new UnreachableException(),
        };
        if (access.IsPublic && (teamFromRoute is not null || method.GetCustomAttribute<RequiresAttribute>() is not null || method.GetCustomAttribute<RequiresOperatorAttribute>() is not null))
            throw Invalid(name, "a [Public] function cannot require a role, a team or an operator");

        var tags = (method.GetCustomAttribute<TagsAttribute>() ?? type.GetCustomAttribute<TagsAttribute>())?.Tags ?? [];
        return new HttpFunction(name, method, trigger.Route, trigger.Methods.Select(m => m.ToLowerInvariant()).ToList(), access,
            method.GetCustomAttribute<EndpointSummaryAttribute>()?.Summary, tags);
    }

    private static QueueFunction Queue(string name, MethodInfo method, QueueTriggerAttribute trigger)
    {
        var parameters = method.GetParameters();
        if (parameters[0].ParameterType != typeof(string)) throw Invalid(name, "the queue message must bind to a string");
        if (parameters.Skip(1).Any(p => p.ParameterType != typeof(CancellationToken))) throw Invalid(name, "it may take only the message and a CancellationToken");
        if (method.ReturnType != typeof(Task)) throw Invalid(name, "it must return Task");
        if (trigger.Connection is not (null or "AzureWebJobsStorage")) throw Invalid(name, "queues use the AzureWebJobsStorage connection");
        return new QueueFunction(name, method, trigger.QueueName);
    }

    private static InvalidOperationException Invalid(string name, string why) => new($"Function {name}: {why}.");
}
