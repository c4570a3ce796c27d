using LlmFp4.Kit.Interactive;
using LlmFp4.Kit.Plotting;
using Microsoft.Data.Analysis;
using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Commands;
using Microsoft.DotNet.Interactive.CSharp;
using Microsoft.DotNet.Interactive.Events;

namespace LlmFp4.Kit.Tests.Notebooks;

/// <summary>
/// The extension in the .NET Interactive C# kernel itself (the one Jupyter and Polyglot Notebooks start), hosted in
/// process with the kit referenced as <c>#r "nuget: LlmFp4.Kit"</c> would.
/// </summary>
[Collection(ProcessWideStateCollection.Name)]
public sealed class KitKernelExtensionTests : IDisposable
{
    private readonly CompositeKernel kernel;

    public KitKernelExtensionTests()
    {
        var csharp = new CSharpKernel().UseKernelHelpers();
        csharp.AddAssemblyReferences([typeof(KitInfo).Assembly.Location, typeof(DataFrame).Assembly.Location]);
        kernel = new CompositeKernel { csharp };
        kernel.DefaultKernelName = csharp.Name;
    }

    public void Dispose() => kernel.Dispose();

    private async Task<KernelCommandResult> Submit(string code)
    {
        var result = await kernel.SendAsync(new SubmitCode(code));
        Assert.Empty(result.Events.OfType<CommandFailed>().Select(f => f.Message));
        return result;
    }

    private static string Value(DisplayEvent displayed, string mimeType) =>
        Assert.Single(displayed.FormattedValues, v => v.MimeType == mimeType).Value;

    [Fact]
    public async Task NotebooksNeedNoUsingDirectivesOnceLoaded()
    {
        await new KitKernelExtension().OnLoadAsync(kernel);

        var result = await Submit("""Path.Combine(FpFormat.E2M1.ToString(), nameof(NotebookSession), nameof(DataFrame), nameof(Calibrator))""");

        Assert.Equal(Path.Combine("E2M1(b=1)", "NotebookSession", "DataFrame", "Calibrator"),
            Value(Assert.Single(result.Events.OfType<ReturnValueProduced>()), "text/plain"));
    }

    [Fact]
    public async Task FiguresAreChartsWithPlotlyInlinedOnceAndAPngWhereChromiumIsInstalled()
    {
        await new KitKernelExtension().OnLoadAsync(kernel);

        var result = await Submit("""
            var figure = new Figure().Add(Trace.Line(new[] { 1.0, 2.0 }, new[] { 3.0, 4.0 }, "line"));
            display(figure);
            display(figure.WithTitle("again"));
            """);

        var shown = result.Events.OfType<DisplayedValueProduced>().ToList();
        Assert.Equal(2, shown.Count);
        string first = Value(shown[0], "text/html"), second = Value(shown[1], "text/html");
        Assert.Equal(FigureExport.PlotlyJsPath is not null, first.StartsWith("<script>") && first.Contains("window.Plotly = Plotly"));
        Assert.DoesNotContain("window.Plotly = Plotly", second);
        Assert.Contains("Plotly.newPlot", second);
        Assert.Equal(FigureExport.PngAvailable, shown[1].FormattedValues.Any(v => v.MimeType == "image/png"));
        if (FigureExport.PngAvailable)
        {
            string png = Value(shown[1], "image/png");
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], Convert.FromBase64String(png)[..4]);
            Assert.Contains($"data:image/png;base64,{png}", second);
        }
    }

    [Fact]
    public async Task KitObjectsAreHtmlTablesAndTheSessionItsSummaryLine()
    {
        await new KitKernelExtension().OnLoadAsync(kernel);

        var format = await Submit("FpFormat.E3M0");
        var session = await Submit("NotebookSession.Load(withModel: false)");

        Assert.Contains(">non-negative codes (each also negated)</caption>", Value(Assert.Single(format.Events.OfType<ReturnValueProduced>()), "text/html"));
        var summary = Assert.Single(session.Events.OfType<ReturnValueProduced>());
        Assert.Equal(["text/plain"], summary.FormattedValues.Select(v => v.MimeType));
        Assert.StartsWith("quick = ", Value(summary, "text/plain"));
    }
}
