using System.Globalization;
using System.Net;
using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Plotting;
using LlmFp4.Kit.Reports;
using Microsoft.Data.Analysis;

namespace LlmFp4.Kit.Notebooks;

/// <summary>
/// How kit objects look in a notebook, independent of the kernel: the .NET Interactive extension in the package
/// (<c>LlmFp4.Kit.Interactive</c>) registers these as its formatters, and <c>llmfp4 notebooks export</c> writes
/// <see cref="Namespaces"/> at the top of a file-based app.
/// </summary>
public static class NotebookDisplay
{
    /// <summary>
    /// The namespaces a notebook imports: System.IO (which .NET Interactive does not import), every public namespace of
    /// the kit, and Microsoft.Data.Analysis for <see cref="DataFrames"/>.
    /// </summary>
    public static IReadOnlyList<string> Namespaces { get; } =
    [
        "System.IO",
        .. typeof(NotebookDisplay).Assembly.GetExportedTypes().Select(t => t.Namespace!).Distinct().Order(StringComparer.Ordinal),
        typeof(DataFrame).Namespace!,
    ];

    /// <summary>The C# lines that import <see cref="Namespaces"/>.</summary>
    public static string UsingDirectives => string.Concat(Namespaces.Select(n => $"using {n};\n"));

    /// <summary>
    /// A figure as notebook HTML: <paramref name="plotlyScript"/> (the inlined plotly.js, given with a notebook's first
    /// figure so the file renders offline; see <see cref="FigureExport.InlinePlotlyScript"/>) followed by the figure's
    /// fragment, which shows the PNG (when <paramref name="png"/> is given) until plotly.js draws the interactive chart,
    /// so viewers that strip scripts (GitHub) still show the picture. <paramref name="sequence"/> numbers the figures of
    /// a notebook so each output gets its own element.
    /// </summary>
    public static string FigureHtml(Figure figure, byte[]? png = null, string? plotlyScript = null, int? sequence = null)
    {
        ArgumentNullException.ThrowIfNull(figure);
        string? placeholder = png is null ? null
            : $"<img src=\"data:image/png;base64,{Convert.ToBase64String(png)}\" alt=\"{WebUtility.HtmlEncode(figure.ToString())}\"/>";
        return (plotlyScript is null ? "" : plotlyScript + "\n") + FigureExport.ToHtmlFragment(figure, placeholder, sequence);
    }

    /// <summary>A format's fields (bits, bias, range, specials) and, for formats of at most 8 bits, every non-negative code.</summary>
    public static string FormatHtml(FpFormat format)
    {
        ArgumentNullException.ThrowIfNull(format);
        string summary = HtmlTable.Render(["field", "value"],
        [
            ["exponent bits", Number(format.ExponentBits)],
            ["mantissa bits", Number(format.MantissaBits)],
            ["exponent bias", Number(format.Bias)],
            ["bits", Number(format.BitWidth)],
            ["max", Number(format.MaxValue)],
            ["min normal", Number(format.MinNormal)],
            ["min subnormal", Number(format.MinSubnormal)],
            ["specials", format.Specials.ToString()],
        ], format.ToString());
        return format.BitWidth > 8 ? summary : summary + "\n" + DataFrameHtml(format.ToDataFrame(), "non-negative codes (each also negated)");
    }

    /// <summary>A calibration result: its config and model, then the per-layer table of <see cref="DataFrames.ToDataFrame(CalibrationResult)"/>.</summary>
    public static string CalibrationHtml(CalibrationResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        string caption = $"{result.Config.Name} on {result.Model.Source ?? "model"} ({result.Layers.Count} layers, {result.CalibrationTokens} calibration tokens" +
            (result.Embedding is { } embedding ? $", embedding {embedding.Format}" : "") + ")";
        return DataFrameHtml(result.ToDataFrame(), caption);
    }

    /// <summary>
    /// Every row of <paramref name="frame"/> as the kit's HTML table (numbers in invariant culture with up to 6
    /// significant digits, nulls empty), for small tables shown whole; large ones are better shown by the DataFrame's
    /// own paged formatter.
    /// </summary>
    public static string DataFrameHtml(DataFrame frame, string? caption = null)
    {
        ArgumentNullException.ThrowIfNull(frame);
        var headers = frame.Columns.Select(c => c.Name).ToList();
        var rows = new List<IReadOnlyList<string>>();
        for (long r = 0; r < frame.Rows.Count; r++)
            rows.Add([.. frame.Columns.Select(c => Cell(c[r]))]);
        return HtmlTable.Render(headers, rows, caption);
    }

    private static string Cell(object? value) => value switch
    {
        null => "",
        double d => Number(d),
        float f => Number(f),
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    private static string Number(double value) => value.ToString("G6", CultureInfo.InvariantCulture);
}
