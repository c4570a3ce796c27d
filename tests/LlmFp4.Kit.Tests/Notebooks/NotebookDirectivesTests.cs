using LlmFp4.Kit.Notebooks;

namespace LlmFp4.Kit.Tests.Notebooks;

public class NotebookDirectivesTests
{
    [Fact]
    public void DirectivesAreRecognisedAndTheirLinesBlanked()
    {
        var parsed = NotebookDirectives.Parse("""
            #!csharp
            #i "nuget: ../artifacts/packages"
            #r "nuget: LlmFp4.Kit, 0.1.0"
              #r "lib/Extra.dll"   // a comment
            var x = 1;
            """);

        Assert.Equal(
            [
                new NotebookDirective(DirectiveKind.CSharpMarker, "csharp", 1),
                new NotebookDirective(DirectiveKind.PackageSource, "../artifacts/packages", 2),
                new NotebookDirective(DirectiveKind.KitPackage, "0.1.0", 3),
                new NotebookDirective(DirectiveKind.AssemblyReference, "lib/Extra.dll", 4),
            ],
            parsed.Directives);
        Assert.Equal("\n\n\n\nvar x = 1;", parsed.Code);
    }

    [Theory]
    [InlineData("#r \"nuget:LlmFp4.Kit\"", "")]
    [InlineData("#r \"nuget: llmfp4.kit, 0.1.0-*\"", "0.1.0-*")]
    public void KitPackageVersionIsOptional(string line, string version)
    {
        var directive = Assert.Single(NotebookDirectives.Parse(line).Directives);

        Assert.Equal(new NotebookDirective(DirectiveKind.KitPackage, version, 1), directive);
    }

    [Fact]
    public void PreprocessorLinesAndCodeAreNotDirectives()
    {
        const string code = "#region setup\n#if DEBUG\n#endif\n#endregion\nvar s = \"#r \\\"x.dll\\\"\";";

        var parsed = NotebookDirectives.Parse(code);

        Assert.Empty(parsed.Directives);
        Assert.Equal(code, parsed.Code);
    }

    [Theory]
    [InlineData("#r \"nuget: Plotly.NET, 4.0.0\"", "Plotly.NET")]
    [InlineData("#!fsharp", "only C# cells")]
    [InlineData("#!time", "#!time")]
    [InlineData("#i \"../packages\"", "not a package source")]
    [InlineData("#r nuget: LlmFp4.Kit", "cannot read the directive")]
    public void UnsupportedDirectivesFailNamingTheLine(string line, string expected)
    {
        var error = Assert.Throws<InvalidDataException>(() => NotebookDirectives.Parse("var a = 1;\n" + line));

        Assert.Contains("Line 2", error.Message);
        Assert.Contains(expected, error.Message);
    }
}
