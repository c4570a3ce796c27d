using System.Text.Json.Nodes;
using LlmFp4.Kit.Notebooks;

namespace LlmFp4.Kit.Tests.Notebooks;

public class NotebookTests
{
    private const string Foreign = """
        {
         "cells": [
          {"cell_type": "markdown", "id": "m1", "metadata": {"tags": ["intro"]}, "source": "# Title\nText"},
          {"cell_type": "code", "id": "c1", "execution_count": 7, "metadata": {"custom": {"keep": true}},
           "outputs": [], "source": ["var x = 1;\n", "x"]}
         ],
         "metadata": {"authors": [{"name": "someone"}], "language_info": {"name": "C#", "file_extension": ".cs"}},
         "nbformat": 4,
         "nbformat_minor": 5
        }
        """;

    [Fact]
    public void UnknownFieldsAndMetadataSurviveARoundTrip()
    {
        var notebook = Notebook.Parse(Foreign, "foreign.ipynb");
        notebook.EnsureDotNetInteractiveMetadata();

        var json = JsonNode.Parse(notebook.ToJson())!;

        Assert.Equal("someone", json["metadata"]!["authors"]![0]!["name"]!.GetValue<string>());
        Assert.Equal(".cs", json["metadata"]!["language_info"]!["file_extension"]!.GetValue<string>());
        Assert.Equal("m1", json["cells"]![0]!["id"]!.GetValue<string>());
        Assert.Equal("intro", json["cells"]![0]!["metadata"]!["tags"]![0]!.GetValue<string>());
        Assert.Equal("# Title\nText", json["cells"]![0]!["source"]!.GetValue<string>());
        Assert.True(json["cells"]![1]!["metadata"]!["custom"]!["keep"]!.GetValue<bool>());
        Assert.Equal(5, json["nbformat_minor"]!.GetValue<int>());
    }

    [Fact]
    public void DotNetInteractiveMetadataIsWhatPolyglotWrites()
    {
        var notebook = Notebook.Parse(Foreign, "foreign.ipynb");
        notebook.EnsureDotNetInteractiveMetadata();

        var json = JsonNode.Parse(notebook.ToJson())!;
        var metadata = json["metadata"]!;

        Assert.Equal("""{"display_name":".NET (C#)","language":"C#","name":".net-csharp"}""", metadata["kernelspec"]!.ToJsonString());
        Assert.Equal("polyglot-notebook", metadata["language_info"]!["name"]!.GetValue<string>());
        Assert.Equal("""{"kernelInfo":{"defaultKernelName":"csharp","items":[{"aliases":[],"name":"csharp"}]}}""", metadata["polyglot_notebook"]!.ToJsonString());
        var codeCell = json["cells"]![1]!["metadata"]!;
        Assert.Equal("csharp", codeCell["polyglot_notebook"]!["kernelName"]!.GetValue<string>());
        Assert.Equal("csharp", codeCell["dotnet_interactive"]!["language"]!.GetValue<string>());
        Assert.Null(json["cells"]![0]!["metadata"]!["polyglot_notebook"]);
    }

    [Fact]
    public void WrittenLikeJupyterWithLinesAndOneSpaceIndent()
    {
        var notebook = Notebook.Create();
        notebook.AddCode("var a = \"<b>\";\nConsole.WriteLine(a);\n");

        string json = notebook.ToJson();

        Assert.Contains("\n \"cells\": [\n  {\n", json);
        Assert.Contains("   \"source\": [\n    \"var a = \\\"<b>\\\";\\n\",\n    \"Console.WriteLine(a);\\n\"\n   ]", json);
        Assert.EndsWith("}\n", json);
        Assert.Equal("var a = \"<b>\";\nConsole.WriteLine(a);\n", Notebook.Parse(json, "x").Cells[0].Source);
    }

    [Theory]
    [InlineData("not json", "not valid JSON")]
    [InlineData("""{"metadata": {}}""", "no \"cells\" array")]
    [InlineData("""{"cells": [], "nbformat": 3}""", "nbformat 3")]
    [InlineData("""{"cells": [{"source": "x"}]}""", "cell 0 has no \"cell_type\"")]
    public void MalformedNotebooksAreRejectedNamingTheFile(string json, string expected)
    {
        var error = Assert.Throws<InvalidDataException>(() => Notebook.Parse(json, "bad.ipynb"));

        Assert.Contains("bad.ipynb", error.Message);
        Assert.Contains(expected, error.Message);
    }
}
