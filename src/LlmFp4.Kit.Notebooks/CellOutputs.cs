using System.Text.Json.Nodes;
using LlmFp4.Kit.Plotting;
using LlmFp4.Kit.Reports;

namespace LlmFp4.Kit.Notebooks;

/// <summary>
/// Collects one cell's outputs in the order they happen: console text becomes nbformat "stream" outputs, flushed
/// before each display so text and figures interleave as they were produced.
/// </summary>
internal sealed class CellOutputs
{
    private readonly JsonArray outputs;
    private readonly bool renderPng;
    private readonly StringWriter stdout = new();
    private readonly StringWriter stderr = new();

    public CellOutputs(JsonArray outputs, bool renderPng)
    {
        this.outputs = outputs;
        this.renderPng = renderPng;
        Out = TextWriter.Synchronized(stdout);
        Error = TextWriter.Synchronized(stderr);
    }

    /// <summary>Console.Out for the cell (thread-safe).</summary>
    public TextWriter Out { get; }

    public TextWriter Error { get; }

    public void Display(object? value)
    {
        var data = Format(value);
        lock (outputs)
        {
            FlushStreams();
            outputs.Add(new JsonObject { ["output_type"] = "display_data", ["data"] = data, ["metadata"] = new JsonObject() });
        }
    }

    public void Result(object value, int executionCount)
    {
        var data = Format(value);
        lock (outputs)
        {
            FlushStreams();
            outputs.Add(new JsonObject
            {
                ["output_type"] = "execute_result",
                ["data"] = data,
                ["execution_count"] = executionCount,
                ["metadata"] = new JsonObject(),
            });
        }
    }

    public void Failure(string name, string message, IEnumerable<string> traceback)
    {
        lock (outputs)
        {
            FlushStreams();
            outputs.Add(new JsonObject
            {
                ["output_type"] = "error",
                ["ename"] = name,
                ["evalue"] = message,
                ["traceback"] = new JsonArray(traceback.Select(line => (JsonNode?)line).ToArray()),
            });
        }
    }

    public void FlushStreams()
    {
        lock (outputs)
        {
            Flush(Out, stdout, "stdout");
            Flush(Error, stderr, "stderr");
        }
    }

    private void Flush(TextWriter synchronizedWriter, StringWriter buffer, string name)
    {
        string text;
        // TextWriter.Synchronized locks on the wrapper itself, so this excludes concurrent writes.
        lock (synchronizedWriter)
        {
            text = buffer.ToString();
            buffer.GetStringBuilder().Clear();
        }
        if (text.Length > 0)
            outputs.Add(new JsonObject { ["output_type"] = "stream", ["name"] = name, ["text"] = NotebookCell.Lines(text) });
    }

    /// <summary>
    /// The MIME bundle for a value: strings and plain objects as text/plain; kit objects as text/html; figures also as
    /// image/png when Chromium is available, with the PNG inside the HTML too so viewers that show only HTML and strip
    /// scripts (GitHub, nbconvert) still show the picture.
    /// </summary>
    private JsonObject Format(object? value)
    {
        switch (value)
        {
            case null:
                return new JsonObject { ["text/plain"] = "<null>" };
            case string text:
                return new JsonObject { ["text/plain"] = NotebookCell.Lines(text) };
            case Figure figure when renderPng && FigureExport.PngAvailable:
                string png = Convert.ToBase64String(FigureExport.RenderPng(figure));
                return new JsonObject
                {
                    ["image/png"] = png,
                    ["text/html"] = NotebookCell.Lines(FigureExport.ToHtmlFragment(figure, $"<img src=\"data:image/png;base64,{png}\" alt=\"{System.Net.WebUtility.HtmlEncode(figure.ToString())}\"/>")),
                    ["text/plain"] = figure.ToString(),
                };
            case IHtmlRenderable renderable:
                return new JsonObject
                {
                    ["text/html"] = NotebookCell.Lines(renderable.ToHtml()),
                    ["text/plain"] = NotebookCell.Lines(renderable.ToString() ?? ""),
                };
            default:
                return new JsonObject { ["text/plain"] = NotebookCell.Lines(value.ToString() ?? "") };
        }
    }
}
