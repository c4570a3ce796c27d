using System.Text.Json.Serialization;

namespace LlmFp4.Kit.Plotting;

/// <summary>
/// Plotly <c>layout</c>: title, size, legend, subplot grid and axes. Axes are keyed as Plotly keys them
/// ("xaxis", "yaxis", "xaxis2", …) and written as top-level layout attributes.
/// </summary>
public sealed class Layout
{
    /// <summary>The figure title.</summary>
    [JsonPropertyName("title")] public Title? Title { get; set; }

    /// <summary>Width in px; unset lets the page decide.</summary>
    [JsonPropertyName("width")] public int? Width { get; set; }

    /// <summary>Height in px; unset lets the page decide.</summary>
    [JsonPropertyName("height")] public int? Height { get; set; }

    /// <summary>Whether the legend is shown; unset lets Plotly decide (shown with two or more traces).</summary>
    [JsonPropertyName("showlegend")] public bool? ShowLegend { get; set; }

    /// <summary>Legend placement and orientation.</summary>
    [JsonPropertyName("legend")] public Legend? Legend { get; set; }

    /// <summary>"group", "stack", "overlay" or "relative": how bar traces sharing an axis are arranged.</summary>
    [JsonPropertyName("barmode")] public string? BarMode { get; set; }

    /// <summary>Subplot grid, set by <see cref="Figure.Subplots"/>.</summary>
    [JsonPropertyName("grid")] public Grid? Grid { get; set; }

    /// <summary>Axes by Plotly layout key ("xaxis", "yaxis2", …); use <see cref="Figure.WithXAxis"/> rather than editing directly.</summary>
    [JsonExtensionData] public Dictionary<string, object> Axes { get; } = new(StringComparer.Ordinal);
}

/// <summary>A Plotly title object (<c>{ "text": … }</c>; plain-string titles are deprecated in plotly.js).</summary>
public sealed class Title
{
    /// <summary>A title reading <paramref name="text"/>.</summary>
    public Title(string text) => Text = text;

    /// <summary>The title text; Plotly accepts a few HTML tags (&lt;b&gt;, &lt;br&gt;, &lt;sub&gt;, &lt;sup&gt;).</summary>
    [JsonPropertyName("text")] public string Text { get; set; }
}

/// <summary>One cartesian axis.</summary>
public sealed class Axis
{
    /// <summary>The axis title.</summary>
    [JsonPropertyName("title")] public Title? Title { get; set; }

    /// <summary>"linear", "log", "category", … (<see cref="AxisType"/>); unset lets Plotly infer it from the data.</summary>
    [JsonPropertyName("type")] public string? Type { get; set; }

    /// <summary>Shown range [min, max]; on a log axis Plotly expects log10 of the bounds.</summary>
    [JsonPropertyName("range")] public double[]? Range { get; set; }

    /// <summary>d3-format tick format, e.g. ".2e" or ".0%".</summary>
    [JsonPropertyName("tickformat")] public string? TickFormat { get; set; }
}

/// <summary>Plotly axis <c>type</c> values.</summary>
public static class AxisType
{
    /// <summary>Linear scale.</summary>
    public const string Linear = "linear";
    /// <summary>Base-10 logarithmic scale.</summary>
    public const string Log = "log";
    /// <summary>Categorical axis: values are labels, placed in order.</summary>
    public const string Category = "category";
}

/// <summary>Legend placement; positions are fractions of the plot area (outside when &gt; 1 or &lt; 0).</summary>
public sealed class Legend
{
    /// <summary>"v" (default) or "h".</summary>
    [JsonPropertyName("orientation")] public string? Orientation { get; set; }

    /// <summary>Horizontal position of the anchor, as a fraction of the plot width.</summary>
    [JsonPropertyName("x")] public double? X { get; set; }

    /// <summary>Vertical position of the anchor, as a fraction of the plot height.</summary>
    [JsonPropertyName("y")] public double? Y { get; set; }

    /// <summary>Which side of the legend <see cref="X"/> places: "auto", "left", "center" or "right".</summary>
    [JsonPropertyName("xanchor")] public string? XAnchor { get; set; }

    /// <summary>Which side of the legend <see cref="Y"/> places: "auto", "top", "middle" or "bottom".</summary>
    [JsonPropertyName("yanchor")] public string? YAnchor { get; set; }

    /// <summary>The legend title.</summary>
    [JsonPropertyName("title")] public Title? Title { get; set; }
}

/// <summary>
/// Plotly layout grid: with pattern "independent" Plotly gives subplot k its own axes xaxis{k}/yaxis{k} and lays
/// the domains out in rows × columns, counting k row by row from the top left.
/// </summary>
public sealed class Grid
{
    /// <summary>Subplot rows.</summary>
    [JsonPropertyName("rows")] public int Rows { get; set; }

    /// <summary>Subplot columns.</summary>
    [JsonPropertyName("columns")] public int Columns { get; set; }

    /// <summary>"independent" (own axes per cell) or "coupled" (shared x per column, shared y per row).</summary>
    [JsonPropertyName("pattern")] public string Pattern { get; set; } = "independent";
}
