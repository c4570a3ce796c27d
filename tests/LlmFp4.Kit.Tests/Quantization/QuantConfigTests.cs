using System.Text.Json.Nodes;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Quantization;

namespace LlmFp4.Kit.Tests.Quantization;

public class QuantConfigTests
{
    [Fact]
    public void Json_round_trips_every_preset()
    {
        foreach (var name in QuantPresets.Names())
        {
            var config = QuantPresets.Get(name);
            var back = QuantConfig.FromJson(config.ToJson());
            Assert.Equal(config.ToJson(), back.ToJson());
            Assert.Equal(config.Hash, back.Hash);
        }
    }

    [Fact]
    public void Hash_ignores_the_label_and_the_key_order_but_not_the_settings()
    {
        var config = QuantPresets.Get("fpq:4/4/4");
        Assert.Matches("^[0-9a-f]{12}$", config.Hash);
        Assert.Equal(config.Hash, (config with { Name = "something else" }).Hash);
        Assert.NotEqual(config.Hash, (config with { Search = config.Search with { Steps = 50 } }).Hash);
        Assert.NotEqual(config.Hash, (config with { Calibration = config.Calibration with { Seed = 1 } }).Hash);

        var reversed = new JsonObject();
        foreach (var (key, value) in JsonNode.Parse(config.ToJson())!.AsObject().Reverse())
            reversed[key] = value?.DeepClone();
        Assert.Equal(config.Hash, QuantConfig.FromJson(reversed.ToJsonString()).Hash);
    }

    [Fact]
    public void Presets_follow_the_papers_rows()
    {
        var fpq = QuantPresets.Get("fpq:4/4/4");
        Assert.Equal(QuantMethod.Fpq, fpq.Method);
        Assert.Equal("fpq:4/4/4", fpq.Name);
        Assert.Equal(new[] { 0, 1, 2 }, fpq.Weights!.SearchMantissaBits);
        Assert.Equal(2, fpq.Activations!.ExponentBits);
        Assert.Equal(Granularity.PerColumn, fpq.Activations.Granularity);
        Assert.Equal(Granularity.PerRow, fpq.Weights.Granularity);
        Assert.Equal(Granularity.PerRow, fpq.Embedding!.Granularity);

        var fp8 = QuantPresets.Get("minmax-fp:8/8/8");
        Assert.Equal("E4M3", fp8.Weights!.StartFormat.ToString()[..4]);
        Assert.Equal(new[] { 2, 3, 4, 5, 6 }, fp8.Activations!.SearchMantissaBits);

        var w4a16 = QuantPresets.Get("minmax-int:w4a16");
        Assert.Null(w4a16.Activations);
        Assert.Equal(4, w4a16.Embedding!.Bits);
        Assert.Equal(NumberKind.Int, w4a16.Weights!.Kind);

        var smooth = QuantPresets.Get("smoothquant");
        Assert.Equal("smoothquant:16/8/8", smooth.Name);
        Assert.Null(smooth.Embedding);
        Assert.Equal("gptq:4/4/16", QuantPresets.Get("GPTQ").Name);
        Assert.Equal(QuantPresets.Get("fpq-baseline:w4a8").Hash, QuantPresets.Get("fpq-baseline:4/4/8").Hash);
    }

    [Fact]
    public void Unknown_names_and_bad_bits_are_explained()
    {
        var unknown = Assert.Throws<ArgumentException>(() => QuantConfig.Resolve("fpq4"));
        foreach (var method in QuantPresets.Methods) Assert.Contains(method, unknown.Message);
        Assert.Contains("w4a4", unknown.Message);
        var bits = Assert.Throws<ArgumentException>(() => QuantPresets.Get("fpq:w4"));
        Assert.Contains("'w4'", bits.Message);
        Assert.Throws<FileNotFoundException>(() => QuantConfig.Resolve("missing-config.json"));
    }

    [Fact]
    public void Validation_names_the_setting_at_fault()
    {
        var fpq = QuantPresets.Get("fpq:4/4/4");
        var error = Assert.Throws<InvalidDataException>(() => QuantConfig.FromJson((fpq with { Weights = QuantSpec.Int(4, Granularity.PerRow) }).ToJson(), "my.json"));
        Assert.Contains("my.json", error.Message);
        Assert.Contains("weights", error.Message);
        Assert.Throws<ArgumentException>(() => (fpq with { Search = fpq.Search with { Gamma2 = 0.001 } }).Validate());
        Assert.Throws<ArgumentException>(() => (fpq with { Method = QuantMethod.FpqBaseline }).Validate());
        Assert.Throws<InvalidDataException>(() => QuantConfig.FromJson("""{"method": "fpq", "unknown_field": 1}"""));
    }

    [Fact]
    public void A_config_file_resolves_by_path()
    {
        var path = Path.Combine(Path.GetTempPath(), $"quant-{Guid.NewGuid():N}.json");
        var config = QuantPresets.Get("minmax-int:w8a8") with { Calibration = new CalibrationDataSettings { Samples = 4, SequenceLength = 64 } };
        File.WriteAllText(path, config.ToJson());
        try
        {
            Assert.Equal(config.Hash, QuantConfig.Resolve(path).Hash);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void The_grid_includes_the_endpoint_unless_told_not_to()
    {
        var grid = new SearchSettings().Multipliers();
        Assert.Equal(101, grid.Length);
        Assert.Equal(0.01, grid[0], 12);
        Assert.Equal(1.2, grid[^1], 12);
        var reference = new SearchSettings { IncludeEndpoint = false }.Multipliers();
        Assert.Equal(100, reference.Length);
        Assert.True(reference[^1] < 1.2);
    }
}
