using Microsoft.Azure.Functions.Worker.Builder;
using QrFunctions.Cli;
using QrFunctions.Hosting;

// One executable: operator commands; the isolated worker when the Functions host starts it (the host passes
// --functions-uri); otherwise the development server, which runs the same functions on Kestrel.
if (args.Length > 0 && OperatorCommands.IsCommand(args[0])) return await OperatorCommands.RunAsync(args);
if (!args.Any(a => a.StartsWith("--functions-uri", StringComparison.Ordinal))) return await DevelopmentServer.RunAsync(args);

var builder = FunctionsApplication.CreateBuilder(args);
// appsettings.json (plans, defaults) from the app's folder whatever the working directory, first so app settings win.
builder.Configuration.Sources.Insert(0, new Microsoft.Extensions.Configuration.Json.JsonConfigurationSource
    { FileProvider = new Microsoft.Extensions.FileProviders.PhysicalFileProvider(AppContext.BaseDirectory), Path = "appsettings.json" });
builder.ConfigureFunctionsWebApplication();
builder.UseMiddleware<FunctionPolicyMiddleware>();
builder.Services.AddQrFunctions(builder.Configuration);
var host = builder.Build();
await AppServices.PrepareStorageAsync(host.Services);
await host.RunAsync();
return 0;
