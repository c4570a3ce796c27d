using System.Text.Json;
using System.Text.Json.Serialization;
using LlmFp4.Kit.Reports;

namespace LlmFp4.Kit.Plotting;

/// <summary>
/// A Plotly figure: traces plus layout, serialised to Plotly's JSON (<c>{"data": [...], "layout": {...}}</c>).
/// Built fluently:
/// <code>
/// new Figure().Add(Trace.Line(x, y, "E2M1")).WithTitle("Grid").WithXAxis("value").WithYAxis("error", log: true)
/// </code>
/// Subplots: <c>Figure.Subplots(1, 2).Add(t1, row: 1, column: 1).Add(t2, row: 1, column: 2)</c>.
/// Shown in notebooks through <see cref="IHtmlRenderable"/>; exported with <see cref="FigureExport"/>.
/// </summary>
public sealed class Figure : IHtmlRenderable
{
    private static readonly JsonSerializerOptions Compact = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };
    private static readonly JsonSerializerOptions Indented = new(Compact) { WriteIndented = true };

    /// <summary>Plotly's <c>data</c>: the traces, drawn in order.</summary>
    [JsonPropertyName("data")] public List<Trace> Data { get; } = [];

    /// <summary>Plotly's <c>layout</c>: titles, axes, legend, size, subplot grid.</summary>
    [JsonPropertyName("layout")] public Layout Layout { get; } = new();

    /// <summary>Number of subplot rows and columns (1 × 1 unless made by <see cref="Subplots"/>).</summary>
    [JsonIgnore] public int Rows => Layout.Grid?.Rows ?? 1;

    /// <summary>Number of subplot columns (1 unless made by <see cref="Subplots"/>).</summary>
    [JsonIgnore] public int Columns => Layout.Grid?.Columns ?? 1;

    /// <summary>A figure with a rows × columns grid of subplots, each with its own x and y axis.</summary>
    public static Figure Subplots(int rows, int columns)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        var figure = new Figure();
        figure.Layout.Grid = new Grid { Rows = rows, Columns = columns };
        return figure;
    }

    /// <summary>Adds <paramref name="trace"/>, drawn on the axes it names (the first subplot unless set); returns this figure.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="trace"/> is null.</exception>
    public Figure Add(Trace trace)
    {
        ArgumentNullException.ThrowIfNull(trace);
        Data.Add(trace);
        return this;
    }

    /// <summary>Adds a trace drawn on the subplot at 1-based (row, column).</summary>
    public Figure Add(Trace trace, int row, int column)
    {
        int k = SubplotIndex(row, column);
        trace.XAxis = k == 1 ? "x" : $"x{k}";
        trace.YAxis = k == 1 ? "y" : $"y{k}";
        return Add(trace);
    }

    /// <summary>Sets the figure title; returns this figure.</summary>
    public Figure WithTitle(string title)
    {
        Layout.Title = new Title(title);
        return this;
    }

    /// <summary>Sets the x axis title and, when <paramref name="log"/>, a log scale, on the subplot at (row, column).</summary>
    public Figure WithXAxis(string? title = null, bool log = false, int row = 1, int column = 1) =>
        ConfigureAxis(XAxis(row, column), title, log);

    /// <summary>Sets the y axis title and, when <paramref name="log"/>, a log scale, on the subplot at (row, column).</summary>
    public Figure WithYAxis(string? title = null, bool log = false, int row = 1, int column = 1) =>
        ConfigureAxis(YAxis(row, column), title, log);

    /// <summary>Pixel size of the figure; also the default PNG size.</summary>
    public Figure WithSize(int width, int height)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        Layout.Width = width;
        Layout.Height = height;
        return this;
    }

    /// <summary>Shows or hides the legend; "h" puts it in a row below the plot.</summary>
    public Figure WithLegend(bool show = true, string? orientation = null)
    {
        Layout.ShowLegend = show;
        if (orientation is not null)
            Layout.Legend = orientation == "h"
                ? new Legend { Orientation = "h", X = 0, Y = -0.2, YAnchor = "top" }
                : new Legend { Orientation = orientation };
        return this;
    }

    /// <summary>"group", "stack", "overlay" or "relative".</summary>
    public Figure WithBarMode(string mode)
    {
        Layout.BarMode = mode;
        return this;
    }

    /// <summary>The x axis of the subplot at (row, column), created on first use, for settings the fluent methods do not cover.</summary>
    public Axis XAxis(int row = 1, int column = 1) => AxisAt("xaxis", SubplotIndex(row, column));

    /// <summary>The y axis of the subplot at (row, column), created on first use, for settings the fluent methods do not cover.</summary>
    /// <exception cref="ArgumentOutOfRangeException">(row, column) outside the subplot grid.</exception>
    public Axis YAxis(int row = 1, int column = 1) => AxisAt("yaxis", SubplotIndex(row, column));

    /// <summary>The figure as Plotly JSON: <c>{"data": [...], "layout": {...}}</c>.</summary>
    public string ToJson(bool indented = false) => JsonSerializer.Serialize(this, indented ? Indented : Compact);

    /// <summary>An HTML fragment that draws the figure where plotly.js is loaded (see <see cref="FigureExport.ToHtmlFragment"/>).</summary>
    public string ToHtml() => FigureExport.ToHtmlFragment(this);

    /// <summary>"Figure "title": n trace(s)", plus the subplot grid when there is one.</summary>
    public override string ToString()
    {
        string title = Layout.Title?.Text is { } text ? $"\"{text}\"" : "untitled";
        return $"Figure {title}: {Data.Count} trace(s)" + (Layout.Grid is { } g ? $" in {g.Rows}×{g.Columns} subplots" : "");
    }

    private int SubplotIndex(int row, int column)
    {
        if (row < 1 || row > Rows || column < 1 || column > Columns)
            throw new ArgumentOutOfRangeException(nameof(row),
                $"Subplot ({row}, {column}) is outside this figure's {Rows}×{Columns} grid (rows and columns count from 1; make the grid with Figure.Subplots).");
        return (row - 1) * Columns + column;
    }

    private Axis AxisAt(string prefix, int k)
    {
        string key = k == 1 ? prefix : $"{prefix}{k}";
        if (!Layout.Axes.TryGetValue(key, out var axis))
            Layout.Axes[key] = axis = new Axis();
        return (Axis)axis;
    }

    private Figure ConfigureAxis(Axis axis, string? title, bool log)
    {
        if (title is not null) axis.Title = new Title(title);
        if (log) axis.Type = AxisType.Log;
        return this;
    }
}
