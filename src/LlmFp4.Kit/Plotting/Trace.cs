using System.Text.Json.Serialization;

namespace LlmFp4.Kit.Plotting;

/// <summary>
/// One Plotly trace. Property names follow plotly.js's schema (checked against plotly.js 4.1 PlotSchema);
/// unset properties are left out so Plotly's defaults apply. The JSON <c>type</c> is written from the subclass.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(ScatterTrace), "scatter")]
[JsonDerivedType(typeof(BarTrace), "bar")]
[JsonDerivedType(typeof(HistogramTrace), "histogram")]
[JsonDerivedType(typeof(BoxTrace), "box")]
[JsonDerivedType(typeof(HeatmapTrace), "heatmap")]
public abstract class Trace
{
    /// <summary>The trace's name in the legend and hover labels.</summary>
    [JsonPropertyName("name")] public string? Name { get; set; }

    /// <summary>Whether the trace appears in the legend; unset lets Plotly decide.</summary>
    [JsonPropertyName("showlegend")] public bool? ShowLegend { get; set; }

    /// <summary>Opacity from 0 (transparent) to 1.</summary>
    [JsonPropertyName("opacity")] public double? Opacity { get; set; }

    /// <summary>The x axis this trace is drawn on: "x" (default), "x2", …; set by <see cref="Figure.Add(Trace, int, int)"/>.</summary>
    [JsonPropertyName("xaxis")] public string? XAxis { get; set; }

    /// <summary>The y axis this trace is drawn on: "y" (default), "y2", …; set by <see cref="Figure.Add(Trace, int, int)"/>.</summary>
    [JsonPropertyName("yaxis")] public string? YAxis { get; set; }

    /// <summary>A line through the points (scatter with mode "lines").</summary>
    public static ScatterTrace Line(PlotValues x, PlotValues y, string? name = null) =>
        new() { X = x, Y = y, Name = name, Mode = ScatterMode.Lines };

    /// <summary>Points only (scatter with mode "markers").</summary>
    public static ScatterTrace Scatter(PlotValues x, PlotValues y, string? name = null) =>
        new() { X = x, Y = y, Name = name, Mode = ScatterMode.Markers };

    /// <summary>A line with a marker at every point (mode "lines+markers").</summary>
    public static ScatterTrace LineMarkers(PlotValues x, PlotValues y, string? name = null) =>
        new() { X = x, Y = y, Name = name, Mode = ScatterMode.LinesAndMarkers };

    /// <summary>Vertical bars of height <paramref name="y"/> at categories or positions <paramref name="x"/>.</summary>
    public static BarTrace Bar(PlotValues x, PlotValues y, string? name = null) => new() { X = x, Y = y, Name = name };

    /// <summary>Histogram of <paramref name="x"/>, binned by Plotly; <paramref name="bins"/> is an upper bound on the bin count.</summary>
    public static HistogramTrace Histogram(PlotValues x, string? name = null, int? bins = null) =>
        new() { X = x, Name = name, NBinsX = bins };

    /// <summary>One box (quartiles, whiskers) summarising <paramref name="y"/>.</summary>
    public static BoxTrace Box(PlotValues y, string? name = null) => new() { Y = y, Name = name };

    /// <summary>Heatmap with <c>z[row, column]</c> drawn at (x[column], y[row]).</summary>
    public static HeatmapTrace Heatmap(double[,] z, PlotValues? x = null, PlotValues? y = null, string colorScale = "Viridis") =>
        new() { Z = Rows(z), X = x, Y = y, ColorScale = colorScale };

    /// <inheritdoc cref="Heatmap(double[,], PlotValues?, PlotValues?, string)"/>
    public static HeatmapTrace Heatmap(float[,] z, PlotValues? x = null, PlotValues? y = null, string colorScale = "Viridis") =>
        new() { Z = Rows(z), X = x, Y = y, ColorScale = colorScale };

    private static PlotValues[] Rows(double[,] z)
    {
        var rows = new PlotValues[z.GetLength(0)];
        var row = new double[z.GetLength(1)];
        for (int r = 0; r < rows.Length; r++)
        {
            for (int c = 0; c < row.Length; c++)
                row[c] = z[r, c];
            rows[r] = PlotValues.Of(row.AsSpan());
        }
        return rows;
    }

    private static PlotValues[] Rows(float[,] z)
    {
        var rows = new PlotValues[z.GetLength(0)];
        var row = new float[z.GetLength(1)];
        for (int r = 0; r < rows.Length; r++)
        {
            for (int c = 0; c < row.Length; c++)
                row[c] = z[r, c];
            rows[r] = PlotValues.Of(row.AsSpan());
        }
        return rows;
    }
}

/// <summary>Plotly scatter <c>mode</c> flags.</summary>
public static class ScatterMode
{
    /// <summary>Lines between the points.</summary>
    public const string Lines = "lines";
    /// <summary>A marker at each point, no line.</summary>
    public const string Markers = "markers";
    /// <summary>Lines with a marker at each point.</summary>
    public const string LinesAndMarkers = "lines+markers";
}

/// <summary>Line or scatter plot (Plotly type "scatter").</summary>
public sealed class ScatterTrace : Trace
{
    /// <summary>x coordinates of the points.</summary>
    [JsonPropertyName("x")] public PlotValues? X { get; set; }

    /// <summary>y coordinates of the points, one per x.</summary>
    [JsonPropertyName("y")] public PlotValues? Y { get; set; }

    /// <summary>"lines", "markers" or "lines+markers" (<see cref="ScatterMode"/>).</summary>
    [JsonPropertyName("mode")] public string? Mode { get; set; }

    /// <summary>Line colour, width and dash; see <see cref="WithLine"/>.</summary>
    [JsonPropertyName("line")] public LineStyle? LineStyle { get; set; }

    /// <summary>Marker colour, size and symbol; see <see cref="WithMarker"/>.</summary>
    [JsonPropertyName("marker")] public MarkerStyle? MarkerStyle { get; set; }

    /// <summary>Line colour, width in px and dash ("solid", "dot", "dash", "longdash", "dashdot", "longdashdot").</summary>
    public ScatterTrace WithLine(string? color = null, double? width = null, string? dash = null)
    {
        LineStyle = new LineStyle { Color = color, Width = width, Dash = dash };
        return this;
    }

    /// <summary>Marker colour (CSS colour), size in px and symbol (see <see cref="MarkerStyle.Symbol"/>); returns this trace.</summary>
    public ScatterTrace WithMarker(string? color = null, double? size = null, string? symbol = null)
    {
        MarkerStyle = new MarkerStyle { Color = color, Size = size, Symbol = symbol };
        return this;
    }
}

/// <summary>Bar chart (Plotly type "bar").</summary>
public sealed class BarTrace : Trace
{
    /// <summary>Categories or positions of the bars.</summary>
    [JsonPropertyName("x")] public PlotValues? X { get; set; }

    /// <summary>Bar heights, one per x.</summary>
    [JsonPropertyName("y")] public PlotValues? Y { get; set; }

    /// <summary>"v" (default) or "h"; for horizontal bars x holds the lengths and y the categories.</summary>
    [JsonPropertyName("orientation")] public string? Orientation { get; set; }

    /// <summary>Bar colour.</summary>
    [JsonPropertyName("marker")] public MarkerStyle? MarkerStyle { get; set; }

    /// <summary>Labels drawn on the bars.</summary>
    [JsonPropertyName("text")] public PlotValues? Text { get; set; }
}

/// <summary>Histogram binned by Plotly (type "histogram").</summary>
public sealed class HistogramTrace : Trace
{
    /// <summary>The values binned.</summary>
    [JsonPropertyName("x")] public PlotValues? X { get; set; }

    /// <summary>Maximum number of bins; Plotly picks round bin edges at or below it.</summary>
    [JsonPropertyName("nbinsx")] public int? NBinsX { get; set; }

    /// <summary>"" (counts), "percent", "probability", "density" or "probability density".</summary>
    [JsonPropertyName("histnorm")] public string? HistNorm { get; set; }

    /// <summary>Bar colour.</summary>
    [JsonPropertyName("marker")] public MarkerStyle? MarkerStyle { get; set; }
}

/// <summary>Box plot (type "box").</summary>
public sealed class BoxTrace : Trace
{
    /// <summary>The values summarised.</summary>
    [JsonPropertyName("y")] public PlotValues? Y { get; set; }

    /// <summary>Optional per-point group positions; boxes with the same x are drawn together.</summary>
    [JsonPropertyName("x")] public PlotValues? X { get; set; }

    /// <summary>"all", "outliers" or "suspectedoutliers" (Plotly also accepts false, not modelled here).</summary>
    [JsonPropertyName("boxpoints")] public string? BoxPoints { get; set; }

    /// <summary>Colour of the box and its points.</summary>
    [JsonPropertyName("marker")] public MarkerStyle? MarkerStyle { get; set; }
}

/// <summary>Heatmap (type "heatmap"): <c>z</c> is a list of rows.</summary>
public sealed class HeatmapTrace : Trace
{
    /// <summary>The cell values, one <see cref="PlotValues"/> per row (row r is drawn at y[r]).</summary>
    [JsonPropertyName("z")] public PlotValues[]? Z { get; set; }

    /// <summary>Column coordinates or labels; unset draws columns at 0, 1, ….</summary>
    [JsonPropertyName("x")] public PlotValues? X { get; set; }

    /// <summary>Row coordinates or labels; unset draws rows at 0, 1, ….</summary>
    [JsonPropertyName("y")] public PlotValues? Y { get; set; }

    /// <summary>A named Plotly colour scale ("Viridis", "RdBu", "Greys", …).</summary>
    [JsonPropertyName("colorscale")] public string? ColorScale { get; set; }

    /// <summary>Value at the low end of the colour scale; unset uses the data minimum.</summary>
    [JsonPropertyName("zmin")] public double? ZMin { get; set; }

    /// <summary>Value at the high end of the colour scale; unset uses the data maximum.</summary>
    [JsonPropertyName("zmax")] public double? ZMax { get; set; }

    /// <summary>Centre of a diverging colour scale (e.g. 0 for signed values).</summary>
    [JsonPropertyName("zmid")] public double? ZMid { get; set; }
}

/// <summary>Plotly <c>line</c> attributes of a scatter trace.</summary>
public sealed class LineStyle
{
    /// <summary>A CSS colour: a name, "#rrggbb" or "rgb(r,g,b)".</summary>
    [JsonPropertyName("color")] public string? Color { get; set; }

    /// <summary>Line width in px.</summary>
    [JsonPropertyName("width")] public double? Width { get; set; }

    /// <summary>"solid", "dot", "dash", "longdash", "dashdot" or "longdashdot".</summary>
    [JsonPropertyName("dash")] public string? Dash { get; set; }
}

/// <summary>Plotly <c>marker</c> attributes.</summary>
public sealed class MarkerStyle
{
    /// <summary>A CSS colour: a name, "#rrggbb" or "rgb(r,g,b)".</summary>
    [JsonPropertyName("color")] public string? Color { get; set; }

    /// <summary>Marker diameter in px.</summary>
    [JsonPropertyName("size")] public double? Size { get; set; }

    /// <summary>"circle", "square", "diamond", "x", …</summary>
    [JsonPropertyName("symbol")] public string? Symbol { get; set; }
}
