using QrFunctions;
using QrFunctions.Cli;

// One executable: the web app (locally and under the Functions host) and the operator commands.
if (args.Length > 0 && OperatorCommands.IsCommand(args[0]))
    return await OperatorCommands.RunAsync(args);

var app = AppHost.Build(args);
await AppHost.PrepareStorageAsync(app);
await app.RunAsync();
return 0;
