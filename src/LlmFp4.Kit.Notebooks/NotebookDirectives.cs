using System.Text;
using System.Text.RegularExpressions;

namespace LlmFp4.Kit.Notebooks;

public enum DirectiveKind
{
    /// <summary><c>#!csharp</c> / <c>#!c#</c>: the cell's kernel; C# is the only one here, so it is a no-op.</summary>
    CSharpMarker,

    /// <summary><c>#i "nuget: &lt;folder or feed&gt;"</c>: a package source for Polyglot; recorded, not used.</summary>
    PackageSource,

    /// <summary><c>#r "nuget: LlmFp4.Kit, &lt;version&gt;"</c>: resolved to the kit assembly the runner was built with.</summary>
    KitPackage,

    /// <summary><c>#r "&lt;path&gt;.dll"</c>: an assembly file, relative to the notebook's folder.</summary>
    AssemblyReference,
}

/// <param name="Kind">Which directive.</param>
/// <param name="Value">The package source, the kit version asked for (empty when none), or the assembly path.</param>
/// <param name="Line">1-based line within the cell.</param>
public sealed record NotebookDirective(DirectiveKind Kind, string Value, int Line);

/// <summary>A code cell split into its directives and the C# that remains (directive lines blanked, so compiler line numbers still match the cell).</summary>
public sealed record ParsedCell(string Code, IReadOnlyList<NotebookDirective> Directives);

/// <summary>
/// Parses the .NET Interactive directives the kit's notebooks use. Anything else that looks like a directive
/// (another kernel, a magic command, a NuGet package other than the kit) is an error naming the line, because
/// silently skipping it would run a different program than Polyglot Notebooks would.
/// </summary>
public static partial class NotebookDirectives
{
    public const string KitPackageId = "LlmFp4.Kit";

    [GeneratedRegex("""^#(?<kind>[ri])\s+"(?<argument>[^"]*)"\s*(//.*)?$""")]
    private static partial Regex ReferenceDirective();

    public static ParsedCell Parse(string source)
    {
        var code = new StringBuilder(source.Length);
        var directives = new List<NotebookDirective>();
        string[] lines = source.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i];
            string trimmed = line.Trim();
            var directive = trimmed.StartsWith("#!", StringComparison.Ordinal) || trimmed.StartsWith("#r", StringComparison.Ordinal) || trimmed.StartsWith("#i", StringComparison.Ordinal)
                ? ParseLine(trimmed, i + 1)
                : null;
            if (directive is not null)
                directives.Add(directive);
            code.Append(directive is null ? line : "");
            if (i < lines.Length - 1)
                code.Append('\n');
        }
        return new ParsedCell(code.ToString(), directives);
    }

    private static NotebookDirective? ParseLine(string line, int lineNumber)
    {
        if (line.StartsWith("#!", StringComparison.Ordinal))
        {
            string name = line[2..].Trim();
            if (name is "csharp" or "c#" or "C#")
                return new NotebookDirective(DirectiveKind.CSharpMarker, name, lineNumber);
            throw new InvalidDataException(
                $"Line {lineNumber}: '{line}' is not supported by the headless runner; only C# cells (#!csharp) run here.");
        }

        var match = ReferenceDirective().Match(line);
        if (!match.Success)
        {
            // "#region", "#if", "#in…" identifiers and the like are C#, not directives.
            if (!Regex.IsMatch(line, """^#[ri]\s"""))
                return null;
            throw new InvalidDataException($"Line {lineNumber}: cannot read the directive '{line}'; expected #r \"…\" or #i \"nuget: …\".");
        }

        string argument = match.Groups["argument"].Value.Trim();
        bool isNuget = argument.StartsWith("nuget:", StringComparison.OrdinalIgnoreCase);
        string package = isNuget ? argument["nuget:".Length..].Trim() : argument;
        if (match.Groups["kind"].Value == "i")
        {
            if (!isNuget || package.Length == 0)
                throw new InvalidDataException($"Line {lineNumber}: '{line}' is not a package source; expected #i \"nuget: <folder or feed>\".");
            return new NotebookDirective(DirectiveKind.PackageSource, package, lineNumber);
        }

        if (!isNuget)
        {
            if (package.Length == 0)
                throw new InvalidDataException($"Line {lineNumber}: '{line}' names no assembly.");
            return new NotebookDirective(DirectiveKind.AssemblyReference, package, lineNumber);
        }

        string[] parts = package.Split(',', 2, StringSplitOptions.TrimEntries);
        if (!string.Equals(parts[0], KitPackageId, StringComparison.OrdinalIgnoreCase))
            throw new InvalidDataException(
                $"Line {lineNumber}: NuGet package '{parts[0]}' cannot be restored by the headless runner; it resolves only " +
                $"#r \"nuget: {KitPackageId}, <version>\" (to the locally built kit) and #r \"<path>.dll\".");
        return new NotebookDirective(DirectiveKind.KitPackage, parts.Length > 1 ? parts[1] : "", lineNumber);
    }
}
