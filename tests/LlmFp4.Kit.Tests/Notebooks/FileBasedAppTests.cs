using System.Text.Json.Nodes;
using LlmFp4.Kit.Cli.Notebooks;
using LlmFp4.Kit.Notebooks;
using LlmFp4.Kit.Tests.Tokenizers;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace LlmFp4.Kit.Tests.Notebooks;

public class FileBasedAppTests
{
    private static string Notebook(params (string Kind, string Source)[] cells) => new JsonObject
    {
        ["cells"] = new JsonArray([.. cells.Select(c => (JsonNode)new JsonObject { ["cell_type"] = c.Kind, ["metadata"] = new JsonObject(), ["source"] = c.Source })]),
        ["metadata"] = new JsonObject(),
        ["nbformat"] = 4,
        ["nbformat_minor"] = 5,
    }.ToJsonString();

    [Fact]
    public void CellsBecomeTopLevelStatementsWithPackagesUsingsAndTypesWhereAnAppNeedsThem()
    {
        string app = FileBasedApp.FromNotebook(Notebook(
            ("markdown", "# Title\n\nSome *prose*."),
            ("code", "#!csharp\n#r \"nuget: LlmFp4.Kit, 0.1.0\"\n#r \"nuget: Other.Package\""),
            ("code", "using System.Text;\nvar point = new Point(1, 2);\nvar text = new StringBuilder(\"x\");\ntext.Append(point)"),
            ("code", "record Point(int X, int Y);\nConsole.WriteLine(text);")), "notebooks/demo.ipynb");

        string[] lines = app.Split('\n');
        Assert.Equal(["#:package LlmFp4.Kit@0.1.0", "#:package Other.Package@*"], lines[..2]);
        Assert.Contains("// demo.ipynb as a .NET file-based app", app);
        Assert.True(app.IndexOf("using System.Text;", StringComparison.Ordinal) < app.IndexOf("var point", StringComparison.Ordinal));
        Assert.Contains(NotebookDisplay.UsingDirectives, app);
        Assert.Contains("// # Title\n//\n// Some *prose*.\n", app);
        // The trailing expression a notebook would show is displayed; the type declaration moves after the statements.
        Assert.Contains("display(text.Append(point));", app);
        Assert.True(app.IndexOf("static void display", StringComparison.Ordinal) < app.IndexOf("record Point(int X, int Y);", StringComparison.Ordinal));
        Assert.True(app.IndexOf("Console.WriteLine(text);", StringComparison.Ordinal) < app.IndexOf("record Point", StringComparison.Ordinal));
        Assert.DoesNotContain("#!csharp", app);
        Assert.DoesNotContain("#r ", app);
    }

    [Theory]
    [InlineData("#!fsharp\nlet x = 1", "line 1: '#!fsharp'")]
    [InlineData("#i \"nuget: /packages\"", "line 1: '#i \"nuget: /packages\"'")]
    [InlineData("var x = 1;\n#r \"lib/Some.dll\"", "line 2: '#r \"lib/Some.dll\"'")]
    public void WhatAnAppCannotExpressIsAnErrorNamingTheCellAndLine(string source, string expected)
    {
        var error = Assert.Throws<InvalidDataException>(() => FileBasedApp.FromNotebook(Notebook(("markdown", "intro"), ("code", source)), "x.ipynb"));
        Assert.Contains("x.ipynb, cell 2, " + expected, error.Message);
    }

    [Fact]
    public void ANotebookThatIsNotJsonIsReportedAsSuch() =>
        Assert.Contains("bad.ipynb is not a notebook", Assert.Throws<InvalidDataException>(() => FileBasedApp.FromNotebook("{ nope", "bad.ipynb")).Message);

    /// <summary>What the test process runs on: the framework, the kit and its packages.</summary>
    private static readonly Lazy<MetadataReference[]> References = new(() =>
        [.. ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator).Select(path => MetadataReference.CreateFromFile(path))]);

    /// <summary>Every notebook of the repository exports to an app that compiles against the kit (CI runs one with `dotnet run`).</summary>
    [Theory]
    [MemberData(nameof(NotebookConventionsTests.Notebooks), MemberType = typeof(NotebookConventionsTests))]
    public void EveryNotebookExportsToAnAppThatCompiles(string notebook)
    {
        string app = FileBasedApp.FromNotebook(File.ReadAllText(RepositoryFiles.Path(Path.Combine("notebooks", notebook))), notebook);

        var tree = CSharpSyntaxTree.ParseText(app, new CSharpParseOptions(LanguageVersion.Preview).WithFeatures([new("FileBasedProgram", "true")]));
        var compilation = CSharpCompilation.Create("app", [tree], References.Value, new CSharpCompilationOptions(OutputKind.ConsoleApplication));

        Assert.Empty(compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString()));
    }
}
