using System.Diagnostics;
using System.Text.Json.Nodes;
using LlmFp4.Kit.Notebooks;
using LlmFp4.Kit.Plotting;

namespace LlmFp4.Kit.Tests.Notebooks;

[Collection(ProcessWideStateCollection.Name)]
public sealed class NotebookRunnerTests : IDisposable
{
    private const string KitReference = "#r \"nuget: LlmFp4.Kit, 0.1.0\"\n";
    private static readonly NotebookRunOptions NoPng = new() { RenderPng = false, UseNotebookDirectory = false };

    private readonly string directory = Directory.CreateTempSubdirectory("llmfp4-notebook-tests-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    private static string[] OutputTypes(NotebookCell cell) =>
        cell.Outputs.Select(o => o!["output_type"]!.GetValue<string>()).ToArray();

    private static string Text(JsonNode? output, string field) => NotebookCell.Text(output![field]);

    private static string Data(JsonNode? output, string mime) => NotebookCell.Text(output!["data"]![mime]);

    [Fact]
    public void CellsShareStateCaptureConsoleAndShowResultsAndFigures()
    {
        var notebook = Notebook.Create();
        var intro = notebook.AddMarkdown("# Test\nSome *prose*.");
        var setup = notebook.AddCode(KitReference + "using LlmFp4.Kit.Plotting;\nvar x = 41;\nConsole.WriteLine(\"hello\");\nConsole.Error.WriteLine(\"careful\");");
        var result = notebook.AddCode("x + 1");
        var plot = notebook.AddCode("""
            Console.WriteLine("before");
            display(new Figure().Add(Trace.Line(new[] { 1.0, 2.0 }, new[] { 3.0, 4.0 }, "line")).WithTitle("t"));
            display("plain text");
            Console.WriteLine("after");
            """);

        var run = NotebookRunner.Execute(notebook, directory, NoPng);

        Assert.True(run.Succeeded, run.Error);
        Assert.Equal((3, 3), (run.CodeCells, run.ExecutedCells));
        Assert.Equal("# Test\nSome *prose*.", intro.Source);
        Assert.Equal((1, 2, 3), (setup.ExecutionCount, result.ExecutionCount, plot.ExecutionCount));

        Assert.Equal(["stream", "stream"], OutputTypes(setup));
        Assert.Equal(("stdout", "hello\n"), (setup.Outputs[0]!["name"]!.GetValue<string>(), Text(setup.Outputs[0], "text")));
        Assert.Equal(("stderr", "careful\n"), (setup.Outputs[1]!["name"]!.GetValue<string>(), Text(setup.Outputs[1], "text")));

        Assert.Equal(["execute_result"], OutputTypes(result));
        Assert.Equal("42", Data(result.Outputs[0], "text/plain"));
        Assert.Equal(2, result.Outputs[0]!["execution_count"]!.GetValue<int>());

        Assert.Equal(["stream", "display_data", "display_data", "stream"], OutputTypes(plot));
        Assert.Equal("before\n", Text(plot.Outputs[0], "text"));
        Assert.Contains("Plotly.newPlot", Data(plot.Outputs[1], "text/html"));
        Assert.Contains("\"line\"", Data(plot.Outputs[1], "text/html"));
        Assert.Null(plot.Outputs[1]!["data"]!["image/png"]);
        Assert.Equal("plain text", Data(plot.Outputs[2], "text/plain"));
        Assert.Equal("after\n", Text(plot.Outputs[3], "text"));
    }

    [Fact]
    public void RuntimeErrorStopsAtItsCellAndClearsStaleOutputsAfterIt()
    {
        var notebook = Notebook.Create();
        notebook.AddCode("Console.WriteLine(\"first\");");
        notebook.AddMarkdown("between");
        var failing = notebook.AddCode("Console.WriteLine(\"partial\");\nthrow new InvalidOperationException(\"boom\");");
        var later = notebook.AddCode("Console.WriteLine(\"never\");");
        later.Outputs.Add(new JsonObject { ["output_type"] = "stream", ["name"] = "stdout", ["text"] = "stale" });
        later.ExecutionCount = 9;

        var run = NotebookRunner.Execute(notebook, directory, NoPng);

        Assert.False(run.Succeeded);
        Assert.Equal(2, run.FailedCellIndex);
        Assert.Equal(1, run.ExecutedCells);
        Assert.Equal("cell 2: InvalidOperationException: boom", run.Error);
        Assert.Equal(["stream", "error"], OutputTypes(failing));
        Assert.Equal("partial\n", Text(failing.Outputs[0], "text"));
        Assert.Equal("InvalidOperationException", failing.Outputs[1]!["ename"]!.GetValue<string>());
        Assert.Equal("boom", failing.Outputs[1]!["evalue"]!.GetValue<string>());
        Assert.Empty(later.Outputs);
        Assert.Null(later.ExecutionCount);
    }

    [Fact]
    public void CompileErrorReportsTheDiagnosticWithCellLineNumbers()
    {
        var notebook = Notebook.Create();
        notebook.AddCode("var ok = 1;");
        var failing = notebook.AddCode("#!csharp\nvar y = undefinedName;");

        var run = NotebookRunner.Execute(notebook, directory, NoPng);

        Assert.Equal(1, run.FailedCellIndex);
        var error = Assert.Single(failing.Outputs)!;
        Assert.Equal("CompilationError", error["ename"]!.GetValue<string>());
        Assert.Contains("(2,9): error CS0103", error["evalue"]!.GetValue<string>());
        Assert.Contains("CS0103", run.Error);
    }

    [Fact]
    public void KitIsReferencedOnlyThroughItsDirective()
    {
        var without = Notebook.Create();
        without.AddCode("LlmFp4.Kit.KitInfo.Version");
        var with = Notebook.Create();
        var cell = with.AddCode(KitReference + "LlmFp4.Kit.KitInfo.Version");

        Assert.Equal(0, NotebookRunner.Execute(without, directory, NoPng).FailedCellIndex);
        Assert.True(NotebookRunner.Execute(with, directory, NoPng).Succeeded);
        Assert.Equal(KitInfo.Version, Data(cell.Outputs[0], "text/plain"));
    }

    [Theory]
    [InlineData("#r \"nuget: LlmFp4.Kit, 9.9.9\"", "asks for LlmFp4.Kit 9.9.9")]
    [InlineData("#r \"nuget: Newtonsoft.Json, 13.0.3\"", "'Newtonsoft.Json' cannot be restored")]
    [InlineData("#r \"missing/Nothing.dll\"", "assembly 'missing/Nothing.dll' not found")]
    [InlineData("#!pwsh\nGet-Date", "only C# cells")]
    public void DirectiveProblemsFailTheirCell(string source, string expected)
    {
        var notebook = Notebook.Create();
        notebook.AddMarkdown("intro");
        var cell = notebook.AddCode(source);

        var run = NotebookRunner.Execute(notebook, directory, NoPng);

        Assert.Equal(1, run.FailedCellIndex);
        Assert.Contains(expected, run.Error);
        Assert.Equal("error", cell.Outputs.Single()!["output_type"]!.GetValue<string>());
    }

    [Fact]
    public void AssemblyReferencesResolveAgainstTheNotebookFolder()
    {
        string lib = Directory.CreateDirectory(Path.Combine(directory, "lib")).FullName;
        File.Copy(typeof(Assert).Assembly.Location, Path.Combine(lib, "xunit.assert.dll"));
        var notebook = Notebook.Create();
        var cell = notebook.AddCode("#r \"lib/xunit.assert.dll\"\nXunit.Assert.Equal(1, 1);\n\"referenced\"");

        var run = NotebookRunner.Execute(notebook, directory, NoPng);

        Assert.True(run.Succeeded, run.Error);
        Assert.Equal("referenced", Data(cell.Outputs[0], "text/plain"));
    }

    [Fact]
    public void ParametersReachTheNotebookAndAreResetAfterwards()
    {
        var notebook = Notebook.Create();
        var cell = notebook.AddCode(KitReference + "$\"{LlmFp4.Kit.NotebookParameters.Quick} {LlmFp4.Kit.NotebookParameters.Get(\"layers\", 2)} {LlmFp4.Kit.NotebookParameters.Get(\"absent\", 0.5)}\"");
        var options = NoPng with { Parameters = new Dictionary<string, string> { ["quick"] = "true", ["layers"] = "4" } };

        var run = NotebookRunner.Execute(notebook, directory, options);

        Assert.True(run.Succeeded, run.Error);
        Assert.Equal("True 4 0.5", Data(cell.Outputs[0], "text/plain"));
        Assert.Empty(NotebookParameters.Current);
        Assert.False(NotebookParameters.Quick);
    }

    [Fact]
    public void BadParameterValueNamesTheParameter()
    {
        using var scope = NotebookParameters.Use(new Dictionary<string, string> { ["layers"] = "four" });

        var error = Assert.Throws<ArgumentException>(() => NotebookParameters.Get("layers", 2));

        Assert.Contains("'layers' = 'four'", error.Message);
    }

    [Fact]
    public void TimeoutStopsTheRunAtTheCellThatOverran()
    {
        var notebook = Notebook.Create();
        notebook.AddMarkdown("intro");
        // Sleeps rather than spins: the abandoned cell must not burn a core for the rest of the test run.
        var slow = notebook.AddCode("System.Threading.Thread.Sleep(30_000);");
        var never = notebook.AddCode("var never = true;");

        var run = NotebookRunner.Execute(notebook, directory, NoPng with { Timeout = TimeSpan.FromSeconds(2) });

        Assert.True(run.TimedOut);
        Assert.Equal(1, run.FailedCellIndex);
        Assert.Equal("TimeoutException", slow.Outputs.Single()!["ename"]!.GetValue<string>());
        Assert.Null(never.ExecutionCount);
        Assert.InRange(run.Elapsed.TotalSeconds, 1.9, 10);
    }

    [Fact]
    public void RunWritesTheExecutedNotebookAndUsesItsFolderAsCurrentDirectory()
    {
        string source = Path.Combine(directory, "nb", "test.ipynb");
        var notebook = Notebook.Create();
        notebook.AddCode("Environment.CurrentDirectory");
        Directory.CreateDirectory(Path.GetDirectoryName(source)!);
        notebook.Save(source);
        string output = Path.Combine(directory, "out", "test.ipynb");
        string before = Environment.CurrentDirectory;

        var run = NotebookRunner.Run(source, output, new NotebookRunOptions { RenderPng = false });

        Assert.True(run.Succeeded, run.Error);
        Assert.Equal(output, run.OutputPath);
        Assert.Equal(before, Environment.CurrentDirectory);
        var executed = Notebook.Load(output);
        Assert.Equal(Path.GetDirectoryName(source), Data(executed.Cells[0].Outputs[0], "text/plain"));
        Assert.Null(Notebook.Load(source).Cells[0].ExecutionCount);
        Assert.Equal(["test.ipynb"], Directory.GetFiles(Path.Combine(directory, "out")).Select(Path.GetFileName));
    }

    [Fact]
    public void CliRunsTheSmokeNotebookInItsOwnProcess()
    {
        string repository = RepositoryRoot();
        string output = Path.Combine(directory, "executed");

        var (exitCode, log) = RunCli("notebooks", "run", Path.Combine(repository, "notebooks", "00-runner-smoke.ipynb"), "--quick", "--output", output);

        Assert.True(exitCode == 0, log);
        var executed = Notebook.Load(Path.Combine(output, "00-runner-smoke.ipynb"));
        var outputs = executed.Cells.SelectMany(c => c.Outputs).ToList();
        Assert.Contains(outputs, o => o!["output_type"]!.GetValue<string>() == "stream" && Text(o, "text").Contains("quick = True"));
        Assert.Contains(outputs, o => o!["output_type"]!.GetValue<string>() == "execute_result" && Data(o, "text/plain") == "0, 0.5, 1, 1.5, 2, 3, 4, 6");
        var figure = Assert.Single(outputs, o => o!["output_type"]!.GetValue<string>() == "display_data");
        Assert.Contains("E2M1", Data(figure, "text/html"));
        // With Chromium the PNG is also inside the HTML, for viewers that strip scripts (GitHub, nbconvert).
        Assert.Equal(FigureExport.PngAvailable, figure!["data"]!["image/png"] is not null);
        Assert.Equal(FigureExport.PngAvailable, Data(figure, "text/html").Contains("<img src=\"data:image/png;base64,"));
        Assert.All(executed.Cells.Where(c => c.IsCode), c => Assert.NotNull(c.ExecutionCount));
    }

    [Fact]
    public void CliFailsWithTheCellIndexInTheSummary()
    {
        var notebook = Notebook.Create();
        notebook.AddCode("throw new Exception(\"cli boom\");");
        string path = Path.Combine(directory, "bad.ipynb");
        notebook.Save(path);

        var (exitCode, log) = RunCli("notebooks", "run", path, "--param", "x=1", "--timeout-s", "60");

        Assert.Equal(1, exitCode);
        Assert.Contains("cell 0: Exception: cli boom", log);
        Assert.Contains("1 of 1 notebook(s) failed", log);
    }

    internal static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "LlmFp4Kit.sln")))
                return dir.FullName;
        throw new DirectoryNotFoundException("Repository root (LlmFp4Kit.sln) not found above " + AppContext.BaseDirectory);
    }

    private static (int ExitCode, string Log) RunCli(params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "llmfp4.dll"));
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        start.Environment["NO_COLOR"] = "1";
        start.Environment["COLUMNS"] = "400";
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(120)), "llmfp4 did not finish");
        return (process.ExitCode, stdout + stderr.Result);
    }
}
