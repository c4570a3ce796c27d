using LlmFp4.Kit.Notebooks;
using LlmFp4.Kit.Plotting;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tests.Tokenizers;

namespace LlmFp4.Kit.Tests.Notebooks;

public sealed class NotebookSessionTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("llmfp4-session-tests-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    private static Func<string, string?> Environment(params (string Name, string Value)[] variables) =>
        name => variables.FirstOrDefault(v => v.Name == name).Value;

    private static readonly (string, string) RepositoryData = ("LLMFP4_DATA", RepositoryFiles.Path("data"));

    [Fact]
    public void QuickSessionLoadsTheDefaultModelAtCiSizeAndExportsNothing()
    {
        var session = NotebookSession.Load(Environment(("LLMFP4_QUICK", "1"), RepositoryData));

        Assert.True(session.Quick);
        Assert.Equal(Path.Combine(RepositoryFiles.Path("data"), "models", "pdllama-7m"), session.ModelPath);
        Assert.Equal(6, session.Model.Config.NumHiddenLayers);
        Assert.Equal(4, session.Calibration.Windows.Count);
        Assert.All(session.Calibration.Windows, window => Assert.Equal(128, window.Length));
        Assert.Equal(4096, session.TestTokens.Length);
        var preset = session.Preset("fpq:4/4/4");
        var search = ((FpSearchSettings)preset.Method).Search;
        Assert.Equal((20, 1), (search.Steps, search.Rounds));
        Assert.Equal(session.CalibrationSettings, preset.Calibration);
        Assert.Null(session.FiguresDirectory);
        Assert.Null(session.Export(new Figure(), "never-written"));
        Assert.Equal(
            $"quick = True; pdllama-7m: 6 layers, hidden 256; calibration 4 × 128 tokens; test 4096 tokens; figures not exported",
            session.ToString());
    }

    [Fact]
    public void QuantizedIsACopyAndTheSessionModelStaysFullPrecision()
    {
        var session = NotebookSession.Load(Environment(("LLMFP4_QUICK", "1"), RepositoryData));
        var before = session.Model.Layers[0].GateProj.Weight.ToArray();

        var quantized = session.Quantized(Kit.Calibration.Calibrator.Run(session.Model, session.Preset("minmax-fp:4/4/16"), session.Calibration));

        Assert.Equal(before, session.Model.Layers[0].GateProj.Weight);
        Assert.NotEqual(before, quantized.Layers[0].GateProj.Weight);
        Assert.True(session.Perplexity(quantized) > session.Perplexity(session.Model));
    }

    [Fact]
    public void FullModeUsesTheCliDefaultsAndTheRepositoryFiguresFolder()
    {
        var session = NotebookSession.Load(Environment(RepositoryData), withModel: false);

        Assert.False(session.Quick);
        Assert.Equal(new CalibrationDataSettings(), session.CalibrationSettings);
        Assert.Equal(new SearchSettings(), session.Search);
        Assert.Equal(RepositoryFiles.Path("figures"), session.FiguresDirectory);
        Assert.EndsWith($"figures → {Path.GetRelativePath(System.Environment.CurrentDirectory, RepositoryFiles.Path("figures"))}", session.ToString());
        var error = Assert.Throws<InvalidOperationException>(() => session.Model);
        Assert.Contains("withModel: false", error.Message);
        Assert.Throws<InvalidOperationException>(() => session.Calibration);
    }

    [Fact]
    public void ExportWritesToTheFiguresParameterAsPngOrElseHtml()
    {
        var session = NotebookSession.Load(Environment(RepositoryData, ("LLMFP4_FIGURES", directory)), withModel: false);
        var figure = new Figure().Add(Trace.Line(new[] { 1.0, 2.0 }, new[] { 3.0, 4.0 }, "line"));

        string? path = session.Export(figure, "line");

        Assert.Equal(Path.Combine(directory, FigureExport.PngAvailable ? "line.png" : "line.html"), path);
        Assert.True(new FileInfo(path!).Length > 0);
    }

    [Fact]
    public void AMissingDataFolderNamesTheVariable()
    {
        string missing = Path.Combine(directory, "no-data");
        var error = Assert.Throws<DirectoryNotFoundException>(() => NotebookSession.Load(Environment(("LLMFP4_DATA", missing)), withModel: false));
        Assert.Contains("LLMFP4_DATA", error.Message);
        Assert.Contains(missing, error.Message);
    }
}
