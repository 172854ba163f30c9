using System.Linq.Expressions;
using Microsoft.AspNetCore.Diagnostics;
using QrFunctions.Api;

namespace QrFunctions.Hosting;

/// <summary>
/// The same [Function] classes without the Functions host (machines without Core Tools, CI, tests): every HTTP
/// function's route and methods mapped onto Kestrel on 127.0.0.1 and run through the same <see cref="FunctionPolicy"/>,
/// every queue function fed by <see cref="LocalQueuePoller"/>. Routes are matched in the host's order (by function
/// name, first match wins), not by ASP.NET Core's literal-first precedence, so a path reaches the same function here
/// as under the host. The list of routes is the attributes; nothing here names a function.
/// </summary>
public static class DevelopmentServer
{
    public static async Task<int> RunAsync(string[] args)
    {
        var app = Build(args);
        await AppServices.PrepareStorageAsync(app.Services);
        await app.StartAsync();
        app.Logger.LogInformation("QrFunctions development server (no Functions host): {Functions} HTTP functions on {Urls}, {Queues} queue functions {Polled}",
            FunctionCatalog.App.HttpFunctions.Count, string.Join(", ", app.Urls), FunctionCatalog.App.QueueFunctions.Count,
            app.Configuration.GetValue("QrFunctions:LocalQueuePolling", true) ? "polled locally" : "not polled (QrFunctions:LocalQueuePolling=false)");
        await app.WaitForShutdownAsync();
        return 0;
    }

    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        // Content root = the executable's folder (appsettings.json), wherever it is started from.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        configure?.Invoke(builder);
        builder.WebHost.UseUrls($"http://127.0.0.1:{builder.Configuration["PORT"] ?? "7071"}");
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = 8 * 1024 * 1024);
        builder.Services.AddQrFunctions(builder.Configuration);
        if (builder.Configuration.GetValue("QrFunctions:LocalQueuePolling", true)) builder.Services.AddHostedService<LocalQueuePoller>();

        var app = builder.Build();
        app.UseStatusCodePages(UnmatchedAsync);
        MapFunctions(app, app.Services.GetRequiredService<FunctionCatalog>());
        return app;
    }

    /// <summary>Maps every HTTP function; Order = its place in the host's route list, so the first match by name wins here too.</summary>
    public static void MapFunctions(IEndpointRouteBuilder endpoints, FunctionCatalog catalog)
    {
        var policy = endpoints.ServiceProvider.GetRequiredService<FunctionPolicy>();
        var order = 0;
        foreach (var function in catalog.HttpFunctions)
        {
            var invoke = Invoker(function, endpoints.ServiceProvider);
            RequestDelegate run = context => RunAsync(context, policy, function, invoke);
            endpoints.MapMethods("/" + function.Route, function.Methods.Select(m => m.ToUpperInvariant()).ToArray(), run)
                .WithOrder(order++)
                .WithDisplayName(function.Name)
                .WithMetadata(function);
        }
    }

    private static async Task RunAsync(HttpContext context, FunctionPolicy policy, HttpFunction function, Func<HttpContext, Task<IResult?>> invoke)
    {
        var result = await policy.RunAsync(context, function, name => context.GetRouteValue(name)?.ToString(), () => invoke(context));
        if (result is not null) await result.ExecuteAsync(context);
    }

    /// <summary>
    /// Calls the function method as the worker does: a new instance per call (the worker's default activator), the
    /// HttpRequest, and route values for the other parameters (FunctionCatalog allows no other kind). Function classes
    /// take singletons only, so they are built from the root provider: no DI scope per request on the scan path.
    /// </summary>
    private static Func<HttpContext, Task<IResult?>> Invoker(HttpFunction function, IServiceProvider services)
    {
        var method = function.Method;
        var context = Expression.Parameter(typeof(HttpContext), "context");
        Expression? instance = null;
        if (!method.IsStatic)
        {
            var factory = ActivatorUtilities.CreateFactory(method.DeclaringType!, Type.EmptyTypes);
            instance = Expression.Convert(
                Expression.Invoke(Expression.Constant(factory), Expression.Constant(services), Expression.Constant(null, typeof(object[]))),
                method.DeclaringType!);
        }
        var arguments = method.GetParameters().Select((p, i) => i == 0
            ? (Expression)Expression.Property(context, nameof(HttpContext.Request))
            : Expression.Call(typeof(DevelopmentServer).GetMethod(nameof(RouteValue), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!,
                context, Expression.Constant(p.Name)));
        Expression call = Expression.Call(instance, method, arguments);
        if (method.ReturnType != typeof(Task<IResult>))
            call = Expression.Call(typeof(Task).GetMethod(nameof(Task.FromResult))!.MakeGenericMethod(typeof(IResult)), Expression.Convert(call, typeof(IResult)));
        return Expression.Lambda<Func<HttpContext, Task<IResult?>>>(call, context).Compile();
    }

    private static string RouteValue(HttpContext context, string name) => context.GetRouteValue(name)?.ToString() ?? "";

    /// <summary>
    /// No function matched the path (404) or the method (405): answer in the path's surface envelope. Under /api and /v1 the
    /// catch-all functions (<see cref="UnmatchedRoutes"/>) answer instead, as under the host; this is for the other paths.
    /// </summary>
    private static Task UnmatchedAsync(StatusCodeContext status)
    {
        var context = status.HttpContext;
        var code = context.Response.StatusCode;
        if (code is not (404 or 405)) return Task.CompletedTask;
        context.Response.Headers.XContentTypeOptions = "nosniff";
        var surface = context.Request.Path.StartsWithSegments("/v1") ? ApiSurface.V1 : ApiSurface.QrApi;
        var message = code == 404
            ? $"No endpoint at {context.Request.Path}."
            : $"{context.Request.Method} is not allowed on {context.Request.Path}.";
        return ApiErrors.Envelope(surface, code, null, message).ExecuteAsync(context);
    }
}
