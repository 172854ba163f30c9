using Xunit;

namespace QrFunctions.Tests.Infrastructure;

/// <summary>
/// Tests that load the machine on purpose (a second service process, dozens of connections) or run long CPU-bound
/// loops under a wall-clock bound (the user-agent vectors: each regex match may take 200 ms) run after the parallel
/// tests, one at a time, so they neither slow the others past their timeouts nor are slowed by them.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RunsAlone
{
    public const string Name = "Runs alone";
}
