using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace LlmFp4.Kit.Notebooks;

/// <summary>
/// A Jupyter notebook (nbformat 4) held as its JSON tree, so metadata and fields this code does not know survive a
/// load/save round trip. Written the way Jupyter writes it: one-space indent, multi-line text as lists of lines.
/// </summary>
public sealed class Notebook
{
    private static readonly JsonSerializerOptions WriteOptions = new()
    {
        WriteIndented = true,
        IndentSize = 1,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private readonly JsonObject root;

    private Notebook(JsonObject root, IReadOnlyList<NotebookCell> cells)
    {
        this.root = root;
        Cells = cells;
    }

    public IReadOnlyList<NotebookCell> Cells { get; private set; }

    /// <summary>Notebook-level metadata (kernelspec, language_info, …), including keys this code does not know.</summary>
    public JsonObject Metadata => (JsonObject)(root["metadata"] ??= new JsonObject());

    /// <summary>An empty C# notebook with .NET Interactive metadata.</summary>
    public static Notebook Create()
    {
        var notebook = Parse("""{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}""", "new notebook");
        notebook.EnsureDotNetInteractiveMetadata();
        return notebook;
    }

    public static Notebook Load(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Notebook '{path}' does not exist.", path);
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses notebook JSON; <paramref name="origin"/> names the notebook in error messages.</summary>
    public static Notebook Parse(string json, string origin)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"Notebook '{origin}' is not valid JSON: {ex.Message}", ex);
        }
        if (node is not JsonObject root || root["cells"] is not JsonArray cells)
            throw new InvalidDataException($"Notebook '{origin}' has no \"cells\" array; is it a Jupyter notebook?");
        if (root["nbformat"]?.GetValueKind() == JsonValueKind.Number && root["nbformat"]!.GetValue<int>() != 4)
            throw new InvalidDataException($"Notebook '{origin}' is nbformat {root["nbformat"]}; only nbformat 4 is supported.");

        var wrapped = new List<NotebookCell>(cells.Count);
        for (int i = 0; i < cells.Count; i++)
        {
            if (cells[i] is not JsonObject cell || cell["cell_type"]?.GetValueKind() != JsonValueKind.String)
                throw new InvalidDataException($"Notebook '{origin}': cell {i} has no \"cell_type\".");
            if (cell["source"] is not (JsonArray or JsonValue))
                throw new InvalidDataException($"Notebook '{origin}': cell {i} has no \"source\".");
            wrapped.Add(new NotebookCell(cell, i));
        }
        return new Notebook(root, wrapped);
    }

    public NotebookCell AddMarkdown(string text) => AddCell(new JsonObject
    {
        ["cell_type"] = "markdown",
        ["metadata"] = new JsonObject(),
        ["source"] = NotebookCell.Lines(text),
    });

    public NotebookCell AddCode(string code)
    {
        var cell = AddCell(new JsonObject
        {
            ["cell_type"] = "code",
            ["execution_count"] = null,
            ["metadata"] = new JsonObject(),
            ["outputs"] = new JsonArray(),
            ["source"] = NotebookCell.Lines(code),
        });
        cell.EnsureCSharpMetadata();
        return cell;
    }

    /// <summary>
    /// Sets what Polyglot Notebooks / Jupyter need to open the file with the .NET C# kernel: kernelspec
    /// <c>.net-csharp</c>, language_info <c>polyglot-notebook</c>, the default kernel, and per code cell the kernel
    /// name. Existing keys with other content are kept unless they contradict the kernel.
    /// </summary>
    public void EnsureDotNetInteractiveMetadata()
    {
        var metadata = Metadata;
        metadata["kernelspec"] = new JsonObject { ["display_name"] = ".NET (C#)", ["language"] = "C#", ["name"] = ".net-csharp" };
        var languageInfo = metadata["language_info"] as JsonObject ?? new JsonObject();
        languageInfo["name"] = "polyglot-notebook";
        metadata["language_info"] = languageInfo;
        if ((metadata["polyglot_notebook"] as JsonObject)?["kernelInfo"] is not JsonObject)
            metadata["polyglot_notebook"] = new JsonObject
            {
                ["kernelInfo"] = new JsonObject
                {
                    ["defaultKernelName"] = "csharp",
                    ["items"] = new JsonArray(new JsonObject { ["aliases"] = new JsonArray(), ["name"] = "csharp" }),
                },
            };
        foreach (var cell in Cells.Where(c => c.IsCode))
            cell.EnsureCSharpMetadata();
    }

    public string ToJson() => root.ToJsonString(WriteOptions) + "\n";

    /// <summary>Writes the notebook to <paramref name="path"/> through a temp file, so a crash never leaves half a notebook.</summary>
    public void Save(string path)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string temp = full + ".tmp-" + Environment.ProcessId;
        File.WriteAllText(temp, ToJson());
        File.Move(temp, full, overwrite: true);
    }

    private NotebookCell AddCell(JsonObject json)
    {
        var cells = (JsonArray)root["cells"]!;
        cells.Add(json);
        var cell = new NotebookCell(json, cells.Count - 1);
        Cells = [.. Cells, cell];
        return cell;
    }
}

/// <summary>One cell of a <see cref="Notebook"/>: a view over its JSON object.</summary>
public sealed class NotebookCell
{
    private readonly JsonObject json;

    internal NotebookCell(JsonObject json, int index)
    {
        this.json = json;
        Index = index;
    }

    /// <summary>Position in the notebook's cell list, counting from 0 (markdown cells included).</summary>
    public int Index { get; }

    /// <summary>"code", "markdown" or "raw".</summary>
    public string CellType => json["cell_type"]!.GetValue<string>();

    public bool IsCode => CellType == "code";

    /// <summary>The cell text (nbformat stores it as a string or a list of lines).</summary>
    public string Source => Text(json["source"]);

    public JsonObject Metadata => (JsonObject)(json["metadata"] ??= new JsonObject());

    /// <summary>The kernel the cell is tagged with in Polyglot metadata ("csharp", "fsharp", "pwsh", …), or null.</summary>
    public string? KernelName =>
        (Metadata["polyglot_notebook"]?["kernelName"] ?? Metadata["dotnet_interactive"]?["language"])?.GetValue<string>();

    public int? ExecutionCount
    {
        get => json["execution_count"]?.GetValue<int>();
        set => json["execution_count"] = value;
    }

    /// <summary>The nbformat output objects (stream, display_data, execute_result, error).</summary>
    public JsonArray Outputs => (JsonArray)(json["outputs"] ??= new JsonArray());

    internal void ClearOutputs()
    {
        json["outputs"] = new JsonArray();
        ExecutionCount = null;
    }

    internal void EnsureCSharpMetadata()
    {
        var metadata = Metadata;
        metadata["dotnet_interactive"] ??= new JsonObject { ["language"] = "csharp" };
        metadata["polyglot_notebook"] ??= new JsonObject { ["kernelName"] = "csharp" };
    }

    /// <summary>Text of an nbformat multi-line field (a string or a list of strings).</summary>
    public static string Text(JsonNode? node) => node switch
    {
        JsonArray lines => string.Concat(lines.Select(line => line?.GetValue<string>() ?? "")),
        JsonValue value => value.GetValue<string>(),
        _ => "",
    };

    /// <summary>Splits text into nbformat lines, each keeping its "\n" except possibly the last.</summary>
    public static JsonArray Lines(string text)
    {
        var lines = new JsonArray();
        int start = 0;
        while (start < text.Length)
        {
            int end = text.IndexOf('\n', start);
            end = end < 0 ? text.Length : end + 1;
            lines.Add(text[start..end]);
            start = end;
        }
        return lines;
    }
}
