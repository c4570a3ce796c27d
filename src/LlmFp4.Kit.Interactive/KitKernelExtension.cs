using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Notebooks;
using LlmFp4.Kit.Plotting;
using LlmFp4.Kit.Reports;
using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Commands;
using Microsoft.DotNet.Interactive.Formatting;

namespace LlmFp4.Kit.Interactive;

/// <summary>
/// The kit's .NET Interactive extension. <c>#r "nuget: LlmFp4.Kit, …"</c> restores the package and the kernel (the
/// <c>Microsoft.dotnet-interactive</c> tool behind Jupyter's <c>.net-csharp</c> kernel and Polyglot Notebooks) loads
/// every <see cref="IKernelExtension"/> in the package's <c>interactive-extensions/dotnet/</c> folder. This one:
/// <list type="bullet">
/// <item>imports <see cref="NotebookDisplay.Namespaces"/> in the C# kernel, so notebooks need no using directives;</item>
/// <item>shows a <see cref="Figure"/> as an interactive Plotly chart (text/html, plotly.js inlined with the notebook's
///   first figure, no CDN) plus an image/png copy where Chromium is installed, for viewers that run no scripts;</item>
/// <item>shows results tables and reports (<see cref="IHtmlRenderable"/>), an <see cref="FpFormat"/> (its fields and
///   codes) and a <see cref="CalibrationResult"/> (per-layer table) as HTML tables, a <see cref="NotebookSession"/> as its
///   summary line. DataFrames keep Microsoft.Data.Analysis's own formatter.</item>
/// </list>
/// plotly.js comes from <see cref="FigureExport.PlotlyJsPath"/>, else from the copy packed beside this assembly.
/// </summary>
public sealed class KitKernelExtension : IKernelExtension
{
    /// <summary>plotly.js packed beside the extension assembly in the NuGet package.</summary>
    public const string BundledPlotlyJs = "plotly.min.js";

    private readonly FigureFormatter figures = new();

    /// <summary>Called by .NET Interactive when the package loads: points figures at the bundled plotly.js, registers the formatters (<see cref="Register"/>) and imports the kit's namespaces into the C# kernel.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="kernel"/> is null.</exception>
    /// <exception cref="InvalidOperationException">The C# kernel refused the namespace imports.</exception>
    public async Task OnLoadAsync(Kernel kernel)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        UseBundledPlotlyJs();
        Register();
        if (kernel.RootKernel.FindKernelByName("csharp") is { } csharp)
        {
            var imports = new SubmitCode(NotebookDisplay.UsingDirectives, csharp.Name);
            if (KernelInvocationContext.Current?.Command is { } parent)
                imports.SetParent(parent);
            var result = await kernel.RootKernel.SendAsync(imports);
            if (result.Events.OfType<Microsoft.DotNet.Interactive.Events.CommandFailed>().FirstOrDefault() is { } failed)
                throw new InvalidOperationException($"LlmFp4.Kit could not import its namespaces: {failed.Message}");
        }
    }

    /// <summary>Registers the kit's formatters with .NET Interactive's <see cref="Formatter"/> (process-wide).</summary>
    public void Register()
    {
        Formatter.Register<IHtmlRenderable>((value, writer) => writer.Write(value.ToHtml()), HtmlFormatter.MimeType);
        Formatter.Register<FpFormat>((format, writer) => writer.Write(NotebookDisplay.FormatHtml(format)), HtmlFormatter.MimeType);
        Formatter.Register<CalibrationResult>((result, writer) => writer.Write(NotebookDisplay.CalibrationHtml(result)), HtmlFormatter.MimeType);
        Formatter.Register<NotebookSession>((session, writer) => writer.Write(session.ToString()), PlainTextFormatter.MimeType);
        Formatter.SetPreferredMimeTypesFor(typeof(NotebookSession), PlainTextFormatter.MimeType);

        Formatter.Register<Figure>((figure, writer) => writer.Write(figures.Html(figure)), HtmlFormatter.MimeType);
        Formatter.Register<Figure>((figure, writer) => writer.Write(Convert.ToBase64String(figures.Png(figure))), FigureFormatter.PngMimeType);
        Formatter.SetPreferredMimeTypesFor(typeof(Figure),
            FigureExport.PngAvailable ? [HtmlFormatter.MimeType, FigureFormatter.PngMimeType] : [HtmlFormatter.MimeType]);
    }

    /// <summary>Points <see cref="FigureExport"/> at the packed plotly.js when it finds none of its own.</summary>
    private static void UseBundledPlotlyJs()
    {
        string bundled = Path.Combine(Path.GetDirectoryName(typeof(KitKernelExtension).Assembly.Location)!, BundledPlotlyJs);
        if (FigureExport.PlotlyJsPath is null && File.Exists(bundled)
            && string.IsNullOrEmpty(Environment.GetEnvironmentVariable(FigureExport.PlotlyJsVariable)))
            Environment.SetEnvironmentVariable(FigureExport.PlotlyJsVariable, bundled);
    }
}
