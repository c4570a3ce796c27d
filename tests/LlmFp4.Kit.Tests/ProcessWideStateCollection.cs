namespace LlmFp4.Kit.Tests;

/// <summary>
/// Tests that touch process-wide state (Console.Out, the current directory, environment variables, child
/// processes) run in this collection, which xunit runs alone after the parallel collections.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessWideStateCollection
{
    public const string Name = "Process-wide state";
}
