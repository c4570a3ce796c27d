using LlmFp4.Kit.Notebooks;
using LlmFp4.Kit.Plotting;

namespace LlmFp4.Kit.Interactive;

/// <summary>
/// A figure's two outputs for one kernel session: the HTML (plotly.js inlined with the first figure only) and the PNG,
/// rendered once per figure although both outputs show it.
/// </summary>
internal sealed class FigureFormatter
{
    public const string PngMimeType = "image/png";

    private readonly Lock gate = new();
    private bool plotlyWritten;
    private int shown;
    private (string Json, byte[] Png)? lastPng;

    public string Html(Figure figure)
    {
        string? script = null;
        int sequence;
        lock (gate)
        {
            sequence = ++shown;
            if (!plotlyWritten && FigureExport.InlinePlotlyScript() is { } inline)
            {
                script = inline;
                plotlyWritten = true;
            }
        }
        return NotebookDisplay.FigureHtml(figure, FigureExport.PngAvailable ? Png(figure) : null, script, sequence);
    }

    public byte[] Png(Figure figure)
    {
        string json = figure.ToJson();
        lock (gate)
        {
            if (lastPng is { } last && last.Json == json)
                return last.Png;
        }
        byte[] png = FigureExport.RenderPng(figure);
        lock (gate)
            lastPng = (json, png);
        return png;
    }
}
