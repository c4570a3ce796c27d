using System.Text.Json;
using LlmFp4.Kit.Plotting;

namespace LlmFp4.Kit.Tests.Plotting;

/// <summary>The figure model writes Plotly's attribute names (plotly.js 4.1 PlotSchema) and nothing else.</summary>
public class FigureTests
{
    private static JsonElement Json(Figure figure) => JsonDocument.Parse(figure.ToJson()).RootElement;

    private static string[] Keys(JsonElement element) => element.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToArray();

    private static string[] Sorted(params string[] names) => names.Order(StringComparer.Ordinal).ToArray();

    [Fact]
    public void LineTraceIsAScatterWithLinesMode()
    {
        var figure = new Figure().Add(Trace.Line(new[] { 1.0, 2.0 }, new[] { 3.0, 4.0 }, "E2M1").WithLine(color: "red", width: 2, dash: "dash"));

        var trace = Json(figure).GetProperty("data")[0];

        Assert.Equal(Sorted("type", "x", "y", "mode", "line", "name"), Keys(trace));
        Assert.Equal("scatter", trace.GetProperty("type").GetString());
        Assert.Equal("lines", trace.GetProperty("mode").GetString());
        Assert.Equal("E2M1", trace.GetProperty("name").GetString());
        Assert.Equal("[1,2]", trace.GetProperty("x").GetRawText());
        Assert.Equal("""{"color":"red","width":2,"dash":"dash"}""", trace.GetProperty("line").GetRawText());
    }

    [Fact]
    public void TypeDiscriminatorComesFirst()
    {
        string json = new Figure().Add(Trace.Scatter(new[] { 1.0 }, new[] { 2.0 })).ToJson();

        Assert.StartsWith("""{"data":[{"type":"scatter",""", json);
    }

    [Fact]
    public void MarkersAndLinesMarkersModes()
    {
        var figure = new Figure()
            .Add(Trace.Scatter(new[] { 1.0 }, new[] { 2.0 }).WithMarker(color: "#1f77b4", size: 6, symbol: "diamond"))
            .Add(Trace.LineMarkers(new[] { 1.0 }, new[] { 2.0 }));

        var data = Json(figure).GetProperty("data");

        Assert.Equal("markers", data[0].GetProperty("mode").GetString());
        Assert.Equal("""{"color":"#1f77b4","size":6,"symbol":"diamond"}""", data[0].GetProperty("marker").GetRawText());
        Assert.Equal("lines+markers", data[1].GetProperty("mode").GetString());
    }

    [Fact]
    public void BarHistogramBoxAndHeatmapUsePlotlyNames()
    {
        var figure = new Figure()
            .Add(new BarTrace { X = new[] { "INT4", "E2M1" }, Y = new[] { 0.5, 0.25 }, Orientation = "v", Text = new[] { "a", "b" } })
            .Add(new HistogramTrace { X = new[] { 1f, 2f, 2f }, NBinsX = 20, HistNorm = "probability density" })
            .Add(new BoxTrace { Y = new[] { 1.0, 2.0, 3.0 }, BoxPoints = "outliers" })
            .Add(Trace.Heatmap(new double[,] { { 1, 2, 3 }, { 4, 5, 6 } }, x: new[] { "a", "b", "c" }, y: new[] { 0, 1 }, colorScale: "RdBu"));

        var data = Json(figure).GetProperty("data");

        Assert.Equal(Sorted("type", "x", "y", "orientation", "text"), Keys(data[0]));
        Assert.Equal("bar", data[0].GetProperty("type").GetString());
        Assert.Equal("""["INT4","E2M1"]""", data[0].GetProperty("x").GetRawText());
        Assert.Equal(Sorted("type", "x", "nbinsx", "histnorm"), Keys(data[1]));
        Assert.Equal("histogram", data[1].GetProperty("type").GetString());
        Assert.Equal(Sorted("type", "y", "boxpoints"), Keys(data[2]));
        Assert.Equal("box", data[2].GetProperty("type").GetString());
        Assert.Equal(Sorted("type", "z", "x", "y", "colorscale"), Keys(data[3]));
        Assert.Equal("heatmap", data[3].GetProperty("type").GetString());
        Assert.Equal("[[1,2,3],[4,5,6]]", data[3].GetProperty("z").GetRawText());
        Assert.Equal("RdBu", data[3].GetProperty("colorscale").GetString());
    }

    [Fact]
    public void FloatHeatmapRowsAreRowsOfTheMatrix()
    {
        var trace = Trace.Heatmap(new float[,] { { 0.1f, 0.2f }, { 0.3f, 0.4f }, { 0.5f, 0.6f } });

        string json = new Figure().Add(trace).ToJson();

        Assert.Contains("\"z\":[[0.1,0.2],[0.3,0.4],[0.5,0.6]]", json);
    }

    [Fact]
    public void NonFiniteValuesBecomeNullGapsAndFloatsKeepShortestForm()
    {
        var figure = new Figure().Add(Trace.Line(new[] { 0.1f, float.NaN, 3f }, new[] { double.PositiveInfinity, 2.5, double.NegativeInfinity }));

        var trace = Json(figure).GetProperty("data")[0];

        Assert.Equal("[0.1,null,3]", trace.GetProperty("x").GetRawText());
        Assert.Equal("[null,2.5,null]", trace.GetProperty("y").GetRawText());
    }

    [Fact]
    public void ValuesAreCopiedSoReusedBuffersDoNotChangeTheFigure()
    {
        var y = new[] { 1.0, 2.0 };
        var figure = new Figure().Add(Trace.Line(PlotValues.Range(2), y));

        y[0] = 99;

        Assert.Equal("[1,2]", Json(figure).GetProperty("data")[0].GetProperty("y").GetRawText());
        Assert.Equal("[0,1]", Json(figure).GetProperty("data")[0].GetProperty("x").GetRawText());
    }

    [Fact]
    public void LayoutTitleAxesLegendAndSize()
    {
        var figure = new Figure()
            .Add(Trace.Line(new[] { 1.0, 10.0 }, new[] { 1.0, 2.0 }, "a"))
            .WithTitle("Error vs scale")
            .WithXAxis("scale", log: true)
            .WithYAxis("MSE")
            .WithLegend(orientation: "h")
            .WithSize(640, 360)
            .WithBarMode("group");

        var layout = Json(figure).GetProperty("layout");

        Assert.Equal("""{"text":"Error vs scale"}""", layout.GetProperty("title").GetRawText());
        Assert.Equal("""{"title":{"text":"scale"},"type":"log"}""", layout.GetProperty("xaxis").GetRawText());
        Assert.Equal("""{"title":{"text":"MSE"}}""", layout.GetProperty("yaxis").GetRawText());
        Assert.True(layout.GetProperty("showlegend").GetBoolean());
        Assert.Equal("h", layout.GetProperty("legend").GetProperty("orientation").GetString());
        Assert.Equal(640, layout.GetProperty("width").GetInt32());
        Assert.Equal(360, layout.GetProperty("height").GetInt32());
        Assert.Equal("group", layout.GetProperty("barmode").GetString());
    }

    [Fact]
    public void SubplotsUseGridAndNumberedAxesRowByRow()
    {
        var figure = Figure.Subplots(2, 2)
            .Add(Trace.Line(new[] { 1.0 }, new[] { 1.0 }), row: 1, column: 1)
            .Add(Trace.Line(new[] { 1.0 }, new[] { 1.0 }), row: 1, column: 2)
            .Add(Trace.Bar(new[] { "a" }, new[] { 1.0 }), row: 2, column: 1)
            .WithXAxis("bits", row: 1, column: 2)
            .WithYAxis("error", log: true, row: 2, column: 1);

        var json = Json(figure);
        var data = json.GetProperty("data");
        var layout = json.GetProperty("layout");

        Assert.Equal("""{"rows":2,"columns":2,"pattern":"independent"}""", layout.GetProperty("grid").GetRawText());
        Assert.Equal(("x", "y"), (data[0].GetProperty("xaxis").GetString(), data[0].GetProperty("yaxis").GetString()));
        Assert.Equal(("x2", "y2"), (data[1].GetProperty("xaxis").GetString(), data[1].GetProperty("yaxis").GetString()));
        Assert.Equal(("x3", "y3"), (data[2].GetProperty("xaxis").GetString(), data[2].GetProperty("yaxis").GetString()));
        Assert.Equal("bits", layout.GetProperty("xaxis2").GetProperty("title").GetProperty("text").GetString());
        Assert.Equal("log", layout.GetProperty("yaxis3").GetProperty("type").GetString());
        Assert.Contains("2×2 subplots", figure.ToString());
    }

    [Fact]
    public void SubplotOutsideTheGridNamesTheGrid()
    {
        var figure = Figure.Subplots(1, 2);

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => figure.Add(Trace.Line(new[] { 1.0 }, new[] { 1.0 }), row: 2, column: 1));

        Assert.Contains("1×2 grid", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new Figure().WithXAxis("x", column: 2));
    }

    [Fact]
    public void UnsetPropertiesAreLeftOut()
    {
        string json = new Figure().Add(Trace.Histogram(new[] { 1.0 })).ToJson();

        Assert.Equal("""{"data":[{"type":"histogram","x":[1]}],"layout":{}}""", json);
    }

    [Fact]
    public void HtmlFragmentEscapesScriptBreakingTextAndIsDeterministic()
    {
        var figure = new Figure().Add(Trace.Line(new[] { 1.0 }, new[] { 1.0 }, "</script><b>")).WithTitle("t");

        string html = figure.ToHtml();

        Assert.Equal(html, figure.ToHtml());
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(html, "</script>"));
        Assert.Contains("window.Plotly.newPlot", html);
        Assert.Matches("id=\"llmfp4-figure-[0-9a-f]{12}\"", html);
    }
}
