using System.Text.Json;
using System.Text.Json.Nodes;
using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Quantization;
using static LlmFp4.Kit.Tests.Calibration.CalibrationTestData;

namespace LlmFp4.Kit.Tests.Calibration;

/// <summary>Result folders saved before per-method settings (method as a name, every method's settings side by side).</summary>
public class LegacyResultTests
{
    // Configs and hashes as the earlier kit wrote them into result.json (calibrate --calib-size 4 --calib-len 128).
    private const string FpqBaseline = """{"name":"fpq-baseline:4/4/4","method":"fpq-baseline","weights":{"kind":"fp","bits":4,"exponent_bits":2,"granularity":{"kind":"PerRow","group_size":0},"symmetric":true,"dynamic":false,"search_mantissa_bits":[0,1,2]},"activations":{"kind":"fp","bits":4,"exponent_bits":2,"granularity":{"kind":"PerTensor","group_size":0},"symmetric":true,"dynamic":false,"search_mantissa_bits":[0,1,2]},"embedding":{"kind":"fp","bits":4,"exponent_bits":2,"granularity":{"kind":"PerRow","group_size":0},"symmetric":true,"dynamic":false,"search_mantissa_bits":[0,1,2]},"quantize_lm_head":true,"attention_mat_muls":null,"search":{"gamma1":0.01,"gamma2":1.2,"steps":100,"rounds":3,"include_endpoint":true},"calibration":{"samples":4,"sequence_length":128,"seed":0},"smooth_quant":{"alpha":0.5},"gptq":{"damp":0.01,"block_size":128,"act_order":false}}""";
    private const string Rptq = """{"name":"rptq-w4a4","method":"rptq","weights":{"kind":"int","bits":4,"exponent_bits":0,"granularity":{"kind":"PerRow","group_size":0},"symmetric":false,"dynamic":false,"search_mantissa_bits":[]},"activations":{"kind":"int","bits":4,"exponent_bits":0,"granularity":{"kind":"PerTensor","group_size":0},"symmetric":false,"dynamic":false,"search_mantissa_bits":[]},"embedding":null,"quantize_lm_head":false,"attention_mat_muls":null,"search":{"gamma1":0.01,"gamma2":1.2,"steps":100,"rounds":3,"include_endpoint":true},"calibration":{"samples":4,"sequence_length":128,"seed":0},"smooth_quant":{"alpha":0.5},"gptq":{"damp":0.01,"block_size":128,"act_order":false},"rptq":{"clusters":32,"head_clusters":4,"restarts":10,"seed":0,"gptq":false}}""";

    [Theory]
    [InlineData(FpqBaseline, "56eca10014e9", "fpq-baseline:4/4/4")]
    [InlineData(Rptq, "c319ebbd2296", "rptq-w4a4")]
    public void Earlier_configs_hash_as_they_did_and_read_as_the_same_preset(string json, string earlierHash, string preset)
    {
        var legacy = JsonNode.Parse(json)!.AsObject();
        Assert.True(LegacyConfig.IsLegacy(legacy));
        Assert.Equal(earlierHash, LegacyConfig.LegacyHash(legacy));
        var current = LegacyConfig.ToCurrent(legacy).Deserialize<QuantConfig>(QuantConfig.JsonOptions)!;
        var expected = QuantPresets.Get(preset) with { Calibration = new CalibrationDataSettings { Samples = 4, SequenceLength = 128 } };
        Assert.Equal(expected.Hash, current.Hash);
        var error = Assert.Throws<InvalidDataException>(() => QuantConfig.FromJson(json, "old.json"));
        Assert.Contains("earlier flat layout", error.Message);
    }

    [Fact]
    public void A_result_saved_in_the_earlier_layout_loads_and_applies()
    {
        var model = TinyModel();
        var set = TinySet();
        var config = QuantPresets.Get("fpq:4/4/4").WithSearch(new SearchSettings { Steps = 4, Rounds = 1 });
        var result = Calibrator.Run(model, config, set);
        string directory = Path.Combine(Path.GetTempPath(), $"legacy-{Guid.NewGuid():N}");
        try
        {
            result.Save(directory);
            string path = Path.Combine(directory, CalibrationResult.JsonFile);
            File.WriteAllText(path, ToEarlierLayout(JsonNode.Parse(File.ReadAllText(path))!.AsObject()).ToJsonString());
            var loaded = CalibrationResult.Load(directory);
            Assert.Equal(result.ConfigHash, loaded.ConfigHash);
            Assert.Contains("earlier version", loaded.LoadNote);
            Assert.Null(result.LoadNote);
            Assert.Equal(JsonSerializer.Serialize(result.Layers, QuantConfig.JsonOptions), JsonSerializer.Serialize(loaded.Layers, QuantConfig.JsonOptions));
            var (expected, actual) = (model.Clone(), model.Clone());
            result.Apply(expected);
            loaded.Apply(actual);
            Assert.Equal(Logits(expected, set), Logits(actual, set));

            var edited = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
            edited["config"]!["calibration"]!["seed"] = 7;
            File.WriteAllText(path, edited.ToJsonString());
            Assert.Contains("edited", Assert.Throws<InvalidDataException>(() => CalibrationResult.Load(directory)).Message);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>The document as the earlier kit wrote it: flat config with every method's default settings, flat layer fields.</summary>
    private static JsonObject ToEarlierLayout(JsonObject document)
    {
        var config = document["config"]!.AsObject();
        var method = config["method"]!.AsObject();
        config["method"] = method["type"]!.GetValue<string>();
        config["search"] = method["search"]!.DeepClone();
        config["smooth_quant"] = new JsonObject { ["alpha"] = 0.5 };
        config["gptq"] = new JsonObject { ["damp"] = 0.01, ["block_size"] = 128, ["act_order"] = false };
        document["config_hash"] = LegacyConfig.LegacyHash(config);
        foreach (var layer in document["layers"]!.AsArray())
        {
            var o = layer!.AsObject();
            var details = o["details"]!.AsObject();
            o.Remove("details");
            foreach (var (key, value) in details)
                if (key != "method") o[key] = value?.DeepClone();
            o["smoothing_scales"] = null;
            o["input_cluster_sizes"] = null;
            o["activation_policy"] = null;
        }
        return document;
    }
}
