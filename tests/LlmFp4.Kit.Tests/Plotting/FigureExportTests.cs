using System.Buffers.Binary;
using System.Net;
using LlmFp4.Kit.Notebooks;
using LlmFp4.Kit.Plotting;

namespace LlmFp4.Kit.Tests.Plotting;

[Collection(ProcessWideStateCollection.Name)]
public sealed class FigureExportTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("llmfp4-export-tests-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    /// <summary>Every attribute and value the model can write, in one figure.</summary>
    private static Figure EverythingFigure() =>
        Figure.Subplots(2, 3)
            .Add(Trace.Line(new[] { 1.0, 2.0, 4.0 }, new[] { 0.5, 0.25, 0.125 }, "lines").WithLine("red", 2, "dot"), 1, 1)
            .Add(Trace.Scatter(new[] { 1f, 2f }, new[] { 3f, float.NaN }, "markers").WithMarker("#336699", 8, "diamond"), 1, 1)
            .Add(Trace.LineMarkers(new[] { 1.0, 2.0 }, new[] { 1.0, 2.0 }, "both"), 1, 1)
            .Add(new BarTrace { X = new[] { "INT4", "E2M1" }, Y = new[] { 0.3, 0.2 }, Orientation = "v", Text = new[] { "a", "b" }, MarkerStyle = new MarkerStyle { Color = "gray" }, Opacity = 0.8 }, 1, 2)
            .Add(new HistogramTrace { X = new[] { 1.0, 2.0, 2.0, 3.0 }, NBinsX = 10, HistNorm = "probability density", ShowLegend = false }, 1, 3)
            .Add(new BoxTrace { Y = new[] { 1.0, 2.0, 9.0 }, X = new[] { "g", "g", "g" }, BoxPoints = "suspectedoutliers", Name = "box" }, 2, 1)
            .Add(new HeatmapTrace { Z = [new[] { 1.0, 2.0 }, new[] { 3.0, 4.0 }], X = new[] { "a", "b" }, Y = new[] { 0, 1 }, ColorScale = "RdBu", ZMin = -4, ZMax = 4 }, 2, 2)
            .Add(new HeatmapTrace { Z = [new[] { -1.0, 2.0 }], X = new[] { "p", "q" }, ZMid = 0 }, 2, 3)
            .WithTitle("everything")
            .WithXAxis("x", log: true, row: 1, column: 1)
            .WithYAxis("y", row: 2, column: 2)
            .WithLegend(orientation: "h")
            .WithBarMode("group")
            .WithSize(800, 600);

    [ChromiumFact]
    public void PlotlyValidateAcceptsEveryAttributeTheModelWrites()
    {
        var figure = EverythingFigure();
        figure.XAxis(2, 3).Range = [0, 1];
        figure.YAxis(1, 2).TickFormat = ".0%";
        figure.XAxis(2, 3).Type = AxisType.Category;
        figure.Layout.Legend!.Title = new Title("legend");

        string page = Path.Combine(directory, "validate.html");
        File.WriteAllText(page, $$"""
            <html><body><pre id="result">pending</pre>
            <script src="{{new Uri(FigureExport.PlotlyJsPath!).AbsoluteUri}}"></script>
            <script>
            var figure = {{figure.ToJson()}};
            var errors = Plotly.validate(figure.data, figure.layout) || [];
            document.getElementById("result").textContent =
              "RESULT:" + JSON.stringify(errors.map(function (e) { return e.code + " " + e.msg; }));
            </script></body></html>
            """);

        string dom = FigureExport.RenderDom(page);

        int start = dom.IndexOf("RESULT:", StringComparison.Ordinal);
        Assert.True(start >= 0, "Chromium did not run the validation page:\n" + dom);
        string result = WebUtility.HtmlDecode(dom[(start + "RESULT:".Length)..dom.IndexOf("</pre>", start, StringComparison.Ordinal)]);
        Assert.Equal("[]", result);
    }

    [ChromiumFact]
    public void SavePngWritesAPictureOfTheRequestedSize()
    {
        string path = Path.Combine(directory, "figures", "everything.png");

        FigureExport.SavePng(EverythingFigure(), path, 640, 360);

        byte[] png = File.ReadAllBytes(path);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(png, 12, 4));
        Assert.Equal(640, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)));
        Assert.Equal(360, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)));
        // A 640 × 360 page holding only a heading is under 4 kB; six subplots with ticks, text and heatmaps are not.
        Assert.True(png.Length > 10_000, $"PNG is only {png.Length} bytes: was the plot drawn?");
        Assert.Equal(["everything.png"], Directory.GetFiles(Path.Combine(directory, "figures")).Select(Path.GetFileName));
    }

    [Fact]
    public void SelfContainedHtmlInlinesPlotlyJs()
    {
        string fakePlotly = Path.Combine(directory, "plotly.min.js");
        File.WriteAllText(fakePlotly, "/* plotly stand-in */ var s = '</script>';");

        string html = FigureExport.ToHtml(EverythingFigure(), inlinePlotlyJs: true, plotlyJsPath: fakePlotly);

        Assert.StartsWith("<!DOCTYPE html>", html);
        Assert.Contains("/* plotly stand-in */ var s = '<\\/script>';", html);
        Assert.Contains("<title>everything</title>", html);
        Assert.Contains("window.Plotly.newPlot", html);
        Assert.DoesNotContain("http", html);
    }

    [Fact]
    public void HtmlWithoutPlotlyJsSaysSoAndKeepsTheData()
    {
        string html = FigureExport.ToHtml(EverythingFigure(), inlinePlotlyJs: true, plotlyJsPath: null);

        Assert.Contains(WebUtility.HtmlEncode(FigureExport.PlotlyJsMissingMessage), html);
        Assert.Contains("&quot;heatmap&quot;", html);
        Assert.DoesNotContain("<script", html);
        Assert.DoesNotContain("http", html);
    }

    [Fact]
    public void MissingPlotlyJsMessageSaysHowToInstallIt()
    {
        string? saved = Environment.GetEnvironmentVariable(FigureExport.PlotlyJsVariable);
        try
        {
            Environment.SetEnvironmentVariable(FigureExport.PlotlyJsVariable, null);
            Assert.Contains("npm ci", FigureExport.PlotlyJsMissingMessage);
            Environment.SetEnvironmentVariable(FigureExport.PlotlyJsVariable, Path.Combine(directory, "gone.js"));
            Assert.Contains("gone.js', which does not exist", FigureExport.PlotlyJsMissingMessage);
        }
        finally
        {
            Environment.SetEnvironmentVariable(FigureExport.PlotlyJsVariable, saved);
        }
    }

    [Fact]
    public void PlotlyJsIsFoundByWalkingUpOrFromTheConfiguredPath()
    {
        string nested = Directory.CreateDirectory(Path.Combine(directory, "repo", "notebooks", "deep")).FullName;
        string plotly = Path.Combine(directory, "repo", "node_modules", "plotly.js-dist-min", "plotly.min.js");
        Directory.CreateDirectory(Path.GetDirectoryName(plotly)!);
        File.WriteAllText(plotly, "//");

        Assert.Equal(plotly, FigureExport.FindPlotlyJs(null, [Path.Combine(directory, "elsewhere"), nested]));
        Assert.Equal(plotly, FigureExport.FindPlotlyJs(plotly, [directory]));
        Assert.Null(FigureExport.FindPlotlyJs(Path.Combine(directory, "missing.js"), [nested]));
        Assert.Null(FigureExport.FindPlotlyJs(null, [directory]));
    }

    [Fact]
    public void PngExportWithoutChromiumThrowsTheInstallHint()
    {
        string? saved = Environment.GetEnvironmentVariable(FigureExport.ChromiumVariable);
        try
        {
            Environment.SetEnvironmentVariable(FigureExport.ChromiumVariable, Path.Combine(directory, "no-chromium"));

            Assert.False(FigureExport.PngAvailable);
            var error = Assert.Throws<InvalidOperationException>(() => FigureExport.SavePng(new Figure(), Path.Combine(directory, "x.png")));
            Assert.Equal(FigureExport.PngUnavailableReason, error.Message);
            Assert.Contains(FigureExport.PlotlyJsPath is null ? FigureExport.PlotlyJsVariable : FigureExport.ChromiumVariable, error.Message);
            Assert.False(File.Exists(Path.Combine(directory, "x.png")));
        }
        finally
        {
            Environment.SetEnvironmentVariable(FigureExport.ChromiumVariable, saved);
        }
    }

    [Fact]
    public void SaveHtmlWritesAtomicallyAndSharesPlotlyJsWhenNotInlined()
    {
        string path = Path.Combine(directory, "figures", "shared.html");

        if (FigureExport.PlotlyJsPath is null)
        {
            Assert.Throws<FileNotFoundException>(() => FigureExport.SaveHtml(new Figure(), path, inlinePlotlyJs: false));
            return;
        }
        FigureExport.SaveHtml(new Figure().WithTitle("shared"), path, inlinePlotlyJs: false);

        Assert.Contains("<script src=\"plotly.min.js\"></script>", File.ReadAllText(path));
        Assert.Equal(new FileInfo(FigureExport.PlotlyJsPath).Length, new FileInfo(Path.Combine(directory, "figures", "plotly.min.js")).Length);
        Assert.Equal(["plotly.min.js", "shared.html"], Directory.GetFiles(Path.Combine(directory, "figures")).Select(Path.GetFileName).Order());
    }

    [ChromiumFact]
    public void ABrowserDrawsNotebookFiguresOnlyWherePlotlyIsOnThePage()
    {
        var line = new Figure().Add(Trace.Line(new[] { 1.0, 2.0 }, new[] { 3.0, 4.0 }, "line"));
        var bars = new Figure().Add(Trace.Bar(new[] { "a", "b" }, new[] { 1.0, 2.0 }, "bars"));
        string drawn = Path.Combine(directory, "drawn.html"), undrawn = Path.Combine(directory, "undrawn.html");
        // As in an executed notebook: plotly.js inlined before the first figure only, then two figures.
        File.WriteAllText(drawn, "<html><body>" + NotebookDisplay.FigureHtml(line, plotlyScript: FigureExport.InlinePlotlyScript(), sequence: 1)
            + "<p>text</p>" + NotebookDisplay.FigureHtml(bars, sequence: 2) + "</body></html>");
        File.WriteAllText(undrawn, "<html><body>" + NotebookDisplay.FigureHtml(line, png: [1, 2, 3], sequence: 1) + NotebookDisplay.FigureHtml(bars, sequence: 2) + "</body></html>");

        Assert.Equal((2, 2), FigureExport.CountDrawnFigures(drawn));
        Assert.Equal((2, 0), FigureExport.CountDrawnFigures(undrawn));
    }
}
