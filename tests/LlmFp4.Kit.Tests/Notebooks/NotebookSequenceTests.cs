using System.Diagnostics;
using LlmFp4.Kit.Notebooks;
using Xunit.Abstractions;

namespace LlmFp4.Kit.Tests.Notebooks;

/// <summary>
/// Executes every numbered notebook (notebooks/0*.ipynb) in quick mode, as CI must: into a temporary copy (the committed
/// executed copies stay untouched), without PNG rendering or figure export, stopping at a notebook's first failing cell.
/// </summary>
[Collection(ProcessWideStateCollection.Name)]
public sealed class NotebookSequenceTests(ITestOutputHelper output) : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("llmfp4-notebook-sequence-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    public static TheoryData<string> Notebooks()
    {
        var names = Directory.GetFiles(Path.Combine(NotebookRunnerTests.RepositoryRoot(), "notebooks"), "0*.ipynb")
            .Select(path => Path.GetFileName(path)).Order(StringComparer.Ordinal);
        return [.. names];
    }

    [Theory]
    [MemberData(nameof(Notebooks))]
    public void RunsInQuickMode(string notebook)
    {
        string source = Path.Combine(NotebookRunnerTests.RepositoryRoot(), "notebooks", notebook);
        var options = new NotebookRunOptions
        {
            Parameters = new Dictionary<string, string> { ["quick"] = "true", ["figures"] = "" },
            RenderPng = false,
            Timeout = TimeSpan.FromMinutes(3),
        };
        var clock = Stopwatch.StartNew();

        var run = NotebookRunner.Run(source, Path.Combine(directory, notebook), options);

        output.WriteLine($"{notebook}: {run.ExecutedCells}/{run.CodeCells} code cells in {clock.Elapsed.TotalSeconds:F1} s");
        Assert.True(run.Succeeded, $"{notebook}: {run.Error}");
        Assert.Equal(run.CodeCells, run.ExecutedCells);
    }
}
