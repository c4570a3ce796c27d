using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Notebooks;
using LlmFp4.Kit.Plotting;
using LlmFp4.Kit.Quantization;
using static LlmFp4.Kit.Tests.Calibration.CalibrationTestData;

namespace LlmFp4.Kit.Tests.Notebooks;

public class NotebookDisplayTests
{
    [Fact]
    public void NotebooksImportSystemIoEveryKitNamespaceAndDataFrames()
    {
        var kitNamespaces = typeof(KitInfo).Assembly.GetExportedTypes().Select(t => t.Namespace!).Distinct();

        Assert.Contains("System.IO", NotebookDisplay.Namespaces);
        Assert.Contains("Microsoft.Data.Analysis", NotebookDisplay.Namespaces);
        Assert.Superset(kitNamespaces.ToHashSet(), NotebookDisplay.Namespaces.ToHashSet());
        Assert.Equal(NotebookDisplay.Namespaces.Count, NotebookDisplay.Namespaces.Distinct().Count());
        Assert.StartsWith("using System.IO;\n", NotebookDisplay.UsingDirectives);
    }

    [Fact]
    public void NoTwoImportedNamespacesExportTheSameTypeName()
    {
        // Every kit namespace is imported into notebooks at once, so a type name used twice would make notebook code ambiguous.
        var imported = NotebookDisplay.Namespaces.ToHashSet();
        var clashes = new[] { typeof(KitInfo).Assembly, typeof(Microsoft.Data.Analysis.DataFrame).Assembly, typeof(File).Assembly }
            .SelectMany(a => a.GetExportedTypes())
            .Where(t => t.Namespace is not null && imported.Contains(t.Namespace) && !t.IsNested)
            .GroupBy(t => t.Name)
            .Where(g => g.Select(t => t.Namespace).Distinct().Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(t => t.Namespace).Distinct())}");
        Assert.Empty(clashes);
    }

    [Fact]
    public void AFormatShowsItsFieldsAndEveryCode()
    {
        string html = NotebookDisplay.FormatHtml(FpFormat.E2M1);

        Assert.Contains("<caption style=\"text-align:left;padding:4px\">E2M1(b=1)</caption>", html);
        Assert.Contains(">exponent bias</td><td style=\"padding:4px 8px;text-align:right\">1</td>", html);
        Assert.Contains(">0111</td>", html);
        Assert.Contains(">subnormal</td>", html);
        // Sixteen-bit formats show their fields only, not 32,768 codes.
        Assert.DoesNotContain("non-negative codes", NotebookDisplay.FormatHtml(FpFormat.Half));
    }

    [Fact]
    public void ACalibrationShowsOneRowPerLayer()
    {
        var result = Calibrator.Run(TinyModel(), QuantPresets.Get("minmax-fp:4/4/4"), TinySet());

        string html = NotebookDisplay.CalibrationHtml(result);

        Assert.Equal(result.Layers.Count, html.Split("<tr><td").Length - 1);
        Assert.All(result.Layers, layer => Assert.Contains($">{layer.Name}</td>", html));
        Assert.Contains($"{result.Layers.Count} layers", html);
    }

    [Fact]
    public void AFigureCarriesPlotlyWhenGivenItsPngAsPlaceholderAndItsOwnElement()
    {
        var figure = new Figure().Add(Trace.Line(new[] { 1.0, 2.0 }, new[] { 3.0, 4.0 }, "line"));

        string first = NotebookDisplay.FigureHtml(figure, png: [1, 2, 3], plotlyScript: "<script>/*plotly*/</script>", sequence: 1);
        string second = NotebookDisplay.FigureHtml(figure, sequence: 2);

        Assert.StartsWith("<script>/*plotly*/</script>\n<div id=\"llmfp4-figure-", first);
        Assert.Contains("<img src=\"data:image/png;base64,AQID\"", first);
        Assert.DoesNotContain("plotly*/", second);
        Assert.Contains("interactive view needs plotly.js", second);
        string Id(string html) => html[html.IndexOf("llmfp4-figure-", StringComparison.Ordinal)..].Split('"')[0];
        Assert.NotEqual(Id(first), Id(second));
        Assert.EndsWith("-2", Id(second));
    }
}
