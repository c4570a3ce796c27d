using System.Text.Json.Nodes;
using LlmFp4.Kit.Cli.Notebooks;

namespace LlmFp4.Kit.Tests.Notebooks;

[Collection(ProcessWideStateCollection.Name)]
public sealed class NotebooksCommandTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("llmfp4-notebooks-command-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    private string WriteNotebook(string name, params JsonObject[] cells)
    {
        string path = Path.Combine(directory, name);
        File.WriteAllText(path, new JsonObject { ["cells"] = new JsonArray(cells), ["metadata"] = new JsonObject(), ["nbformat"] = 4, ["nbformat_minor"] = 5 }.ToJsonString());
        return path;
    }

    private static JsonObject Code(string source, params JsonObject[] outputs) =>
        new() { ["cell_type"] = "code", ["source"] = source, ["metadata"] = new JsonObject(), ["outputs"] = new JsonArray(outputs) };

    [Fact]
    public void ExportWritesTheAppItNames()
    {
        string notebook = WriteNotebook("demo.ipynb", Code("#r \"nuget: LlmFp4.Kit, 0.1.0\""), Code("Console.WriteLine(1 + 1);"));
        string app = Path.Combine(directory, "out", "demo.cs");
        Directory.CreateDirectory(Path.GetDirectoryName(app)!);

        var (exitCode, output) = CliRunner.Run("notebooks", "export", notebook, "--to", "app", "--output", app);

        Assert.Equal(0, exitCode);
        Assert.Contains($"wrote {app}", output);
        Assert.StartsWith("#:package LlmFp4.Kit@0.1.0\n", File.ReadAllText(app));
        Assert.Equal(["demo.cs"], Directory.GetFiles(Path.GetDirectoryName(app)!).Select(Path.GetFileName));
    }

    [Fact]
    public void ExportRefusesOtherTargetsAndMissingNotebooks()
    {
        string notebook = WriteNotebook("demo.ipynb", Code("var x = 1;"));

        var (badTarget, targetOutput) = CliRunner.Run("notebooks", "export", notebook, "--to", "script");
        var (missing, missingOutput) = CliRunner.Run("notebooks", "export", Path.Combine(directory, "none.ipynb"), "--to", "app");

        Assert.Equal((1, 1), (badTarget, missing));
        Assert.Contains("--to script is not supported", targetOutput);
        Assert.Contains("none.ipynb' does not exist", missingOutput);
    }

    [Fact]
    public void RunRefusesAMissingNotebookBeforeStartingJupyter()
    {
        var (exitCode, output) = CliRunner.Run("notebooks", "run", Path.Combine(directory, "none.ipynb"), "--quick");

        Assert.Equal(1, exitCode);
        Assert.Contains("none.ipynb' does not exist", output);
    }

    [Fact]
    public void TheFirstErrorOutputOfAnExecutedNotebookIsTheFailure()
    {
        var error = new JsonObject { ["output_type"] = "error", ["ename"] = "Error", ["evalue"] = "(1,1): error CS0103: The name 'Path' does not exist", ["traceback"] = new JsonArray() };
        var later = new JsonObject { ["output_type"] = "error", ["ename"] = "Error", ["evalue"] = "later", ["traceback"] = new JsonArray() };
        string executed = WriteNotebook("executed.ipynb",
            Code("var x = 1;", new JsonObject { ["output_type"] = "stream", ["name"] = "stdout", ["text"] = "ok" }),
            new JsonObject { ["cell_type"] = "markdown", ["source"] = "text", ["metadata"] = new JsonObject() },
            Code("Path.Combine(\"a\")", error),
            Code("x", later));

        Assert.Equal("cell 3: Error: (1,1): error CS0103: The name 'Path' does not exist", Jupyter.FirstCellError(executed));
        Assert.Null(Jupyter.FirstCellError(WriteNotebook("fine.ipynb", Code("var x = 1;"))));
    }
}
