using System.Text.Json;

namespace LlmFp4.Kit.Tests.Formats;

/// <summary>Runs `llmfp4 formats` through <see cref="CliRunner"/> (hence the process-wide state collection).</summary>
[Collection(ProcessWideStateCollection.Name)]
public class FormatsCommandTests
{
    private static (int ExitCode, string Output) Run(params string[] args) => CliRunner.Run(args);

    [Fact]
    public void ListsEveryPreset()
    {
        var (exitCode, output) = Run("formats");
        Assert.Equal(0, exitCode);
        foreach (var name in new[] { "E2M1", "E1M2", "E3M0", "E2M3", "E3M2", "E4M3", "E5M2", "Half", "BFloat16", "MXFP4", "NVFP4" })
            Assert.Contains(name, output);
        Assert.Contains("57344", output);
    }

    [Fact]
    public void ShowJsonHasTheFieldsAndEveryValue()
    {
        var (exitCode, output) = Run("formats", "show", "e2m1", "--max", "3", "--json");
        Assert.Equal(0, exitCode);
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        Assert.Equal("E2M1(b=2)", root.GetProperty("name").GetString());
        Assert.Equal(3, root.GetProperty("maxValue").GetDouble());
        Assert.Equal([0, 0.25, 0.5, 0.75, 1, 1.5, 2, 3], root.GetProperty("values").EnumerateArray().Select(v => v.GetDouble()));
    }

    [Fact]
    public void ShowTablePrintsTheValues()
    {
        var (exitCode, output) = Run("formats", "show", "E3M2", "--bias", "2");
        Assert.Equal(0, exitCode);
        Assert.Contains("E3M2(b=2)", output);
        Assert.Contains("32 non-negative values", output);
        Assert.Contains("56", output);
    }

    [Fact]
    public void UnknownNameIsOneErrorListingThePresets()
    {
        var (exitCode, output) = Run("formats", "show", "E9M9");
        Assert.Equal(1, exitCode);
        Assert.StartsWith("error:", output);
        Assert.Contains("BFloat16", output);
        Assert.DoesNotContain(" at ", output);
    }
}
