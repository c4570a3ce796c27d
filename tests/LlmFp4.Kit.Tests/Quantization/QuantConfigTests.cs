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
        Assert.NotEqual(config.Hash, config.WithSearch(new SearchSettings { Steps = 50 }).Hash);
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
        Assert.IsType<FpqSettings>(fpq.Method);
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
        Assert.Throws<ArgumentException>(() => fpq.WithSearch(new SearchSettings { Gamma2 = 0.001 }).Validate());
        Assert.Throws<ArgumentException>(() => (fpq with { Method = new FpqBaselineSettings() }).Validate());
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

    /// <summary>
    /// The hash of every preset, pinned: saved calibrations and finished reproduce rows are filed under these. Changing a
    /// method's defaults must move only that method's rows (the per-method settings make sure of it); a change here means
    /// every saved result of those presets is recalibrated.
    /// </summary>
    public static readonly Dictionary<string, string> PinnedHashes = new()
    {
        ["minmax-int:w8a8"] = "ab49d986a710",
        ["minmax-int:w4a16"] = "cd5563a2bc5c",
        ["minmax-int:w4a8"] = "bd039a0e3e62",
        ["minmax-int:w4a4"] = "84c6e7a37c0b",
        ["minmax-fp:w8a8"] = "b005b5bfaed3",
        ["minmax-fp:w4a16"] = "1d62438d0bea",
        ["minmax-fp:w4a8"] = "90327c24e670",
        ["minmax-fp:w4a4"] = "2ce40f8a5c7c",
        ["fpq-baseline:w8a8"] = "8e2680a4898c",
        ["fpq-baseline:w4a16"] = "85584d5de835",
        ["fpq-baseline:w4a8"] = "90abf0647bf2",
        ["fpq-baseline:w4a4"] = "056b2b8a277e",
        ["fpq:w8a8"] = "01370243ae35",
        ["fpq:w4a16"] = "5d6e83218c18",
        ["fpq:w4a8"] = "5f95db47e5ea",
        ["fpq:w4a4"] = "5205530432d1",
        ["fpq-fast:w8a8"] = "e3ec5a34afec",
        ["fpq-fast:w4a16"] = "b223e0fdc2d2",
        ["fpq-fast:w4a8"] = "9105b007777d",
        ["fpq-fast:w4a4"] = "c11e02a2ea33",
        ["smoothquant:w8a8"] = "4f08e33e53ba",
        ["smoothquant:w4a8"] = "408179853b00",
        ["smoothquant:w4a4"] = "82171c1c20ab",
        ["gptq:w8a8"] = "1c2d45067e82",
        ["gptq:w4a16"] = "6abda44ebd35",
        ["gptq:w4a8"] = "732259118dc4",
        ["gptq:w4a4"] = "14a8f71ba17a",
        ["gptq-fp:w8a8"] = "fd58f7ad3591",
        ["gptq-fp:w4a16"] = "5d74f203bb2b",
        ["gptq-fp:w4a8"] = "4f9e0f6a0c2e",
        ["gptq-fp:w4a4"] = "7e92fe520345",
        ["rptq-w4a4"] = "3e3470062cdf",
        ["rptq-w4a3"] = "c679d82645e2",
        ["rptq-w3a3"] = "f2a607048882",
        ["fptq-w4a8"] = "5452b35dcc0d",
        ["fp6-w6a16"] = "736fc6a10b49",
        ["int4-w4a16"] = "5de9b496a7af",
        ["int4-gptq-w4a16"] = "c39ebee13bb4",
    };

    [Fact]
    public void Hash_covers_the_common_settings_and_the_methods_own_only()
    {
        string[] common = ["activations", "attention_mat_muls", "calibration", "embedding", "method", "name", "quantize_lm_head", "weights"];
        foreach (var name in QuantPresets.Names())
        {
            var config = QuantPresets.Get(name);
            var node = JsonNode.Parse(config.CanonicalJson)!.AsObject();
            Assert.Equal(config.PackWeights ? [.. common.Append("pack_weights").Order(StringComparer.Ordinal)] : common,
                node.Select(p => p.Key).Order(StringComparer.Ordinal));
            // The method object holds its own settings: those of its record, serialised on their own, and nothing else.
            var own = JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(config.Method, QuantConfig.JsonOptions))!.AsObject();
            Assert.Equal(own.Select(p => p.Key).Order(StringComparer.Ordinal), node["method"]!.AsObject().Select(p => p.Key).Order(StringComparer.Ordinal));
            foreach (string other in MethodSettings.AllNames.Where(n => n != config.Method.Name))
                Assert.DoesNotContain($"\"type\":\"{other}\"", config.CanonicalJson);
        }
    }

    [Fact]
    public void Preset_hashes_are_pinned()
    {
        var actual = QuantPresets.Names().ToDictionary(n => n, n => QuantPresets.Get(n).Hash);
        var moved = actual.Where(p => !PinnedHashes.TryGetValue(p.Key, out var pinned) || pinned != p.Value).Select(p => $"[\"{p.Key}\"] = \"{p.Value}\",").ToList();
        Assert.True(moved.Count == 0, "Preset hashes moved (saved calibrations of these presets will be recomputed):\n" + string.Join("\n", moved));
        Assert.Equal(PinnedHashes.Keys.Order(), actual.Keys.Order());
    }
}
