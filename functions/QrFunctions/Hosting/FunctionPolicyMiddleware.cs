using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Middleware;

namespace QrFunctions.Hosting;

/// <summary>
/// Under the Functions host: every HTTP invocation runs through <see cref="FunctionPolicy"/> with the access its
/// function declared (looked up by name in the catalog, resolved once). Queue invocations pass straight through.
/// A refusal becomes the invocation's result, which the ASP.NET Core integration writes after this returns.
/// </summary>
public sealed class FunctionPolicyMiddleware(FunctionPolicy policy, FunctionCatalog catalog) : IFunctionsWorkerMiddleware
{
    public async Task Invoke(FunctionContext context, FunctionExecutionDelegate next)
    {
        if (catalog.FindHttp(context.FunctionDefinition.Name) is not { } function || context.GetHttpContext() is not { } http)
        {
            await next(context);
            return;
        }
        // Route values as the host matched them (its binding data), which is also what the function's parameters bind to.
        var bindingData = context.BindingContext.BindingData;
        var result = await policy.RunAsync(http, function, name => bindingData.TryGetValue(name, out var value) ? value?.ToString() : null, async () =>
        {
            await next(context);
            return context.GetInvocationResult().Value as IResult;
        });
        context.GetInvocationResult().Value = result;
    }
}
