using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using LlmFp4.Kit.Notebooks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LlmFp4.Kit.Cli.Notebooks;

/// <summary>
/// Turns a C# notebook (.ipynb) into a .NET 10 file-based app that <c>dotnet run app.cs</c> runs: <c>#r "nuget: X, V"</c>
/// becomes <c>#:package X@V</c>, markdown cells become comments, the code cells follow in order as top-level statements,
/// the namespaces the kernel and the kit's extension import (<see cref="NotebookDisplay.Namespaces"/>) and the cells' own using
/// directives go to the top, type declarations to the end, a cell's trailing expression (which a notebook displays)
/// becomes <c>display(…);</c>, and <c>display</c> prints to the console.
/// </summary>
public static partial class FileBasedApp
{
    /// <summary>What the .NET Interactive C# kernel imports before the first cell.</summary>
    private static readonly string[] KernelImports =
        ["System", "System.Text", "System.Collections", "System.Collections.Generic", "System.Threading.Tasks", "System.Linq"];

    [GeneratedRegex("""^#r\s+"nuget:\s*(?<id>[^,"\s]+)\s*(,\s*(?<version>[^"\s]+))?\s*"\s*$""")]
    private static partial Regex NugetReference();

    /// <summary>
    /// The app's source for the notebook <paramref name="ipynbJson"/> read from <paramref name="notebookPath"/> (used in
    /// comments and errors).
    /// </summary>
    /// <exception cref="InvalidDataException">
    /// The file is not a notebook, or a cell uses what a file-based app has no equivalent for (another kernel, a magic
    /// command, <c>#i</c> package sources, <c>#r</c> of a DLL); the message names the cell and line.
    /// </exception>
    public static string FromNotebook(string ipynbJson, string notebookPath)
    {
        string name = Path.GetFileName(notebookPath);
        var cells = ReadCells(ipynbJson, name);
        var packages = new List<string>();
        var usings = new List<string>(KernelImports.Concat(NotebookDisplay.Namespaces).Select(n => $"using {n};"));
        var body = new StringBuilder();
        var types = new StringBuilder();
        for (int index = 0; index < cells.Count; index++)
        {
            var (kind, source) = cells[index];
            if (kind == "markdown")
            {
                foreach (string line in source.Split('\n'))
                    body.Append(line.Length == 0 ? "//" : "// " + line.TrimEnd('\r')).Append('\n');
                body.Append('\n');
            }
            else if (kind == "code")
            {
                string code = TakeDirectives(source, $"{name}, cell {index + 1}", packages);
                if (code.Trim().Length > 0)
                    AppendCode(code, usings, body, types);
            }
        }

        var app = new StringBuilder();
        foreach (string package in packages.Distinct())
            app.Append("#:package ").Append(package).Append('\n');
        // Versions are pinned above, and notebook code is not held to a repository's warning policy, whatever
        // Directory.Build.props or Directory.Packages.props the app's folder inherits.
        app.Append("#:property ManagePackageVersionsCentrally=false\n#:property TreatWarningsAsErrors=false\n");
        app.Append($"// {name} as a .NET file-based app (written by `llmfp4 notebooks export`). Run: dotnet run {Path.ChangeExtension(name, ".cs")}\n");
        app.Append("// Notebook parameters come from the environment as in the notebook, e.g. LLMFP4_QUICK=1.\n\n");
        foreach (string line in usings.Distinct())
            app.Append(line).Append('\n');
        app.Append('\n').Append(body);
        app.Append("// What a notebook shows below a cell, printed.\n");
        app.Append("static void display(object? value) => Console.WriteLine(value);\n");
        if (types.Length > 0)
            app.Append('\n').Append(types);
        return app.ToString();
    }

    private static List<(string Kind, string Source)> ReadCells(string ipynbJson, string name)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(ipynbJson);
        }
        catch (System.Text.Json.JsonException ex)
        {
            throw new InvalidDataException($"{name} is not a notebook: {ex.Message}", ex);
        }
        if (root?["cells"] is not JsonArray cells)
            throw new InvalidDataException($"{name} is not a notebook: it has no \"cells\" array.");
        var result = new List<(string, string)>();
        for (int i = 0; i < cells.Count; i++)
        {
            string kind = cells[i]?["cell_type"]?.GetValue<string>() ?? throw new InvalidDataException($"{name}, cell {i + 1} has no cell_type.");
            string? language = cells[i]?["metadata"]?["dotnet_interactive"]?["language"]?.GetValue<string>()
                ?? cells[i]?["metadata"]?["polyglot_notebook"]?["kernelName"]?.GetValue<string>();
            if (kind == "code" && language is not null && language != "csharp")
                throw new InvalidDataException($"{name}, cell {i + 1} is a '{language}' cell; a file-based app holds C# only.");
            result.Add((kind, Source(cells[i]!["source"])));
        }
        return result;
    }

    private static string Source(JsonNode? source) => source switch
    {
        null => "",
        JsonArray lines => string.Concat(lines.Select(l => l?.GetValue<string>())),
        _ => source.GetValue<string>(),
    };

    /// <summary>Removes the cell's kernel directives, collecting its NuGet packages; returns the C# that is left.</summary>
    private static string TakeDirectives(string source, string where, List<string> packages)
    {
        var code = new StringBuilder();
        string[] lines = source.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].Trim();
            if (line is "#!csharp" or "#!c#" or "#!C#")
                continue;
            if (line.StartsWith("#!", StringComparison.Ordinal) || line.StartsWith("#i ", StringComparison.Ordinal)
                || (line.StartsWith("#r ", StringComparison.Ordinal) && !NugetReference().IsMatch(line)))
                throw new InvalidDataException(
                    $"{where}, line {i + 1}: '{line}' has no file-based-app equivalent (only C# cells and #r \"nuget: Package, Version\" are exported).");
            if (NugetReference().Match(line) is { Success: true } match)
            {
                packages.Add($"{match.Groups["id"].Value}@{(match.Groups["version"].Success ? match.Groups["version"].Value : "*")}");
                continue;
            }
            code.Append(lines[i]).Append('\n');
        }
        return code.ToString();
    }

    /// <summary>Splits a cell's C# (parsed as a script, as the kernel does) into using directives, statements and types.</summary>
    private static void AppendCode(string code, List<string> usings, StringBuilder body, StringBuilder types)
    {
        var root = (CompilationUnitSyntax)CSharpSyntaxTree.ParseText(code, new CSharpParseOptions(LanguageVersion.Latest, kind: SourceCodeKind.Script)).GetRoot();
        usings.AddRange(root.Usings.Select(u => u.ToString().Trim()));
        var members = root.Members;
        for (int i = 0; i < members.Count; i++)
        {
            var member = members[i];
            if (member is BaseTypeDeclarationSyntax or DelegateDeclarationSyntax)
            {
                types.Append(member.ToFullString().Trim('\n')).Append("\n\n");
                continue;
            }
            bool trailingExpression = i == members.Count - 1
                && member is GlobalStatementSyntax { Statement: ExpressionStatementSyntax { SemicolonToken.IsMissing: true } };
            string text = member.ToFullString();
            if (trailingExpression)
            {
                var expression = ((ExpressionStatementSyntax)((GlobalStatementSyntax)member).Statement).Expression;
                text = expression.GetLeadingTrivia().ToFullString() + $"display({expression.WithoutTrivia()});\n";
            }
            body.Append(text);
        }
        if (body.Length > 0 && body[^1] != '\n')
            body.Append('\n');
        body.Append('\n');
    }
}
