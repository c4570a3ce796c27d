using System.Text.Json.Nodes;
using LlmFp4.Kit.Tests.Tokenizers;

namespace LlmFp4.Kit.Tests.Notebooks;

/// <summary>
/// What every notebook in notebooks/ follows (notebooks/README.md), and what its committed executed copy shows: it ran
/// in the real .NET Interactive kernel, every cell succeeded, and its figures are charts, not object dumps.
/// </summary>
public class NotebookConventionsTests
{
    public static TheoryData<string> Notebooks() =>
        [.. Directory.GetFiles(RepositoryFiles.Path("notebooks"), "*.ipynb").Select(path => Path.GetFileName(path)).Order(StringComparer.Ordinal)];

    private static JsonObject Load(string notebook) =>
        JsonNode.Parse(File.ReadAllText(RepositoryFiles.Path(Path.Combine("notebooks", notebook))))!.AsObject();

    private static string Text(JsonNode? node) => node switch
    {
        null => "",
        JsonArray lines => string.Concat(lines.Select(l => l!.GetValue<string>())),
        _ => node.GetValue<string>(),
    };

    private static List<JsonObject> CodeCells(JsonObject notebook) =>
        [.. notebook["cells"]!.AsArray().Select(c => c!.AsObject()).Where(c => c["cell_type"]!.GetValue<string>() == "code")];

    [Theory]
    [MemberData(nameof(Notebooks))]
    public void StartsWithThePackageAloneThenTheSessionInTheCSharpKernel(string notebook)
    {
        var json = Load(notebook);
        var code = CodeCells(json);

        Assert.Equal(".net-csharp", json["metadata"]!["kernelspec"]!["name"]!.GetValue<string>());
        Assert.Equal($"#r \"nuget: LlmFp4.Kit, {KitInfo.Version}\"", Text(code[0]["source"]));
        Assert.StartsWith("var session = NotebookSession.Load(", Text(code[1]["source"]));
        Assert.All(code, cell => Assert.DoesNotContain("#i ", Text(cell["source"])));
        Assert.All(code, cell => Assert.DoesNotContain("using LlmFp4.Kit", Text(cell["source"])));
    }

    [Theory]
    [MemberData(nameof(Notebooks))]
    public void TheCommittedCopyRanInTheRealKernelWithoutErrorsAndShowsCharts(string notebook)
    {
        var code = CodeCells(Load(notebook));
        var outputs = code.SelectMany(c => c["outputs"]!.AsArray().Select(o => o!.AsObject())).ToList();

        Assert.All(code, cell => Assert.NotNull(cell["execution_count"]));
        Assert.Empty(outputs.Where(o => o["output_type"]!.GetValue<string>() == "error").Select(o => Text(o["evalue"])));
        // .NET Interactive restored the package and loaded the kit's extension from it.
        string restore = string.Concat(code[0]["outputs"]!.AsArray().Select(o => Text(o!["data"]?["text/html"]) + Text(o!["data"]?["text/plain"])));
        Assert.Contains($"LlmFp4.Kit, {KitInfo.Version}", restore);
        Assert.Contains("interactive-extensions/dotnet/LlmFp4.Kit.Interactive.dll", restore);

        var figures = outputs.Where(o => Text(o["data"]?["text/html"]).Contains("class=\"llmfp4-figure\"")).ToList();
        Assert.NotEmpty(figures);
        Assert.All(figures, figure => Assert.NotNull(figure["data"]!["image/png"]));
        Assert.Contains("window.Plotly = Plotly", Text(figures[0]["data"]!["text/html"]));
        Assert.DoesNotContain(outputs, o => Text(o["data"]?["text/html"]).Contains("LlmFp4.Kit.Plotting.Figure"));
    }
}
