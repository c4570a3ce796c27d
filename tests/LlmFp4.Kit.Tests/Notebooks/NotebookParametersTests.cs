using LlmFp4.Kit.Notebooks;

namespace LlmFp4.Kit.Tests.Notebooks;

public class NotebookParametersTests
{
    private static Func<string, string?> Environment(params (string Name, string Value)[] variables) =>
        name => variables.FirstOrDefault(v => v.Name == name).Value;

    [Theory]
    [InlineData("1", true)]
    [InlineData("true", true)]
    [InlineData("Yes", true)]
    [InlineData("0", false)]
    [InlineData("false", false)]
    [InlineData("off", false)]
    public void QuickComesFromLlmfp4QuickInEveryCommonSpelling(string value, bool expected) =>
        Assert.Equal(expected, NotebookParameters.Get("quick", !expected, Environment(("LLMFP4_QUICK", value))));

    [Fact]
    public void UnsetOrBlankParametersTakeTheNotebooksDefault()
    {
        Assert.True(NotebookParameters.Get("quick", true, Environment()));
        Assert.Equal(7, NotebookParameters.Get("samples", 7, Environment(("LLMFP4_SAMPLES", " "))));
        // An empty string is a value for a string parameter ("export nowhere"), not a missing one.
        Assert.Equal("", NotebookParameters.Get("figures", "../figures", Environment(("LLMFP4_FIGURES", ""))));
    }

    [Fact]
    public void ValuesParseInvariantlyAsTheDefaultsType()
    {
        var environment = Environment(("LLMFP4_STEPS", "20"), ("LLMFP4_GAMMA", "0.5"), ("LLMFP4_KIND", "fp"), ("LLMFP4_LOG_SCALE", "on"));
        Assert.Equal(20, NotebookParameters.Get("steps", 100, environment));
        Assert.Equal(0.5, NotebookParameters.Get("gamma", 1.0, environment));
        Assert.Equal(Kit.Quantization.NumberKind.Fp, NotebookParameters.Get("kind", Kit.Quantization.NumberKind.Int, environment));
        Assert.True(NotebookParameters.Get("log-scale", false, environment));
    }

    [Fact]
    public void ABadValueNamesTheVariableAndTheParameter()
    {
        var error = Assert.Throws<ArgumentException>(() => NotebookParameters.Get("steps", 100, Environment(("LLMFP4_STEPS", "many"))));
        Assert.Contains("LLMFP4_STEPS='many'", error.Message);
        Assert.Contains("'steps'", error.Message);
        Assert.Throws<ArgumentException>(() => NotebookParameters.Get("quick", false, Environment(("LLMFP4_QUICK", "maybe"))));
    }

    [Fact]
    public void VariableNamesAreUpperCaseWithUnderscores() =>
        Assert.Equal("LLMFP4_LOG_SCALE", NotebookParameters.VariableName("log-scale"));
}
