using System.Text.Json;
using System.Text.Json.Nodes;
using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Formats;
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
            File.WriteAllText(path, ToEarlierLayout(ToScaleLayout(JsonNode.Parse(File.ReadAllText(path))!.AsObject())).ToJsonString());
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

    [Theory]
    [InlineData("minmax-fp:4/4/4")]
    [InlineData("fpq-baseline:4/4/4")]
    [InlineData("fpq:4/4/4")]
    public void A_result_saved_with_float_scales_loads_as_the_same_exponent_biases(string preset)
    {
        var model = TinyModel();
        var set = TinySet();
        var config = QuantPresets.Get(preset).WithSearch(new SearchSettings { Steps = 4, Rounds = 1 })
            with { AttentionMatMuls = QuantSpec.Fp(8, Granularity.PerTensor) };
        var result = Calibrator.Run(model, config, set);
        string directory = Path.Combine(Path.GetTempPath(), $"legacy-scales-{Guid.NewGuid():N}");
        try
        {
            result.Save(directory);
            string path = Path.Combine(directory, CalibrationResult.JsonFile);
            var earlier = ToScaleLayout(JsonNode.Parse(File.ReadAllText(path))!.AsObject());
            File.WriteAllText(path, earlier.ToJsonString());
            var loaded = CalibrationResult.Load(directory);
            Assert.Contains("float scales", loaded.LoadNote);
            Assert.Equal(result.ConfigHash, loaded.ConfigHash);
            // The weight and embedding biases come back as b = -log2(s), which can differ from the searched value in
            // the last bits of the double but gives the same float32 scale; the quantizers therefore act identically.
            foreach (var (saved, read) in result.Layers.Zip(loaded.Layers))
            {
                Assert.Equal(Scales(saved.WeightQuantizer), Scales(read.WeightQuantizer));
                Assert.Equal(Scales(saved.InputQuantizer), Scales(read.InputQuantizer));
                Assert.Equal((saved.InputQuantizer as FpQuantizer)?.Offsets, (read.InputQuantizer as FpQuantizer)?.Offsets);
                Assert.Equal(JsonSerializer.Serialize(saved.Details, QuantConfig.JsonOptions), JsonSerializer.Serialize(read.Details, QuantConfig.JsonOptions));
            }
            Assert.Equal(Scales(result.Embedding!.Quantizer), Scales(loaded.Embedding!.Quantizer));
            Assert.Equal(result.AttentionQuantizers.Keys, loaded.AttentionQuantizers.Keys);
            Assert.All(result.AttentionQuantizers, a => Assert.Equal(Scales(a.Value), Scales(loaded.AttentionQuantizers[a.Key])));
            foreach (bool fold in new[] { false, true })
            {
                var (expected, actual) = (model.Clone(), model.Clone());
                result.Apply(expected, fold);
                loaded.Apply(actual, fold);
                Assert.Equal(Logits(expected, set), Logits(actual, set));
            }

            // A scale with no exponent bias (0 here), or pre-shifted scales that disagree with the recorded offsets, are refused by name.
            var zero = earlier.DeepClone().AsObject();
            zero["layers"]![0]!["weight_quantizer"]!["scales"]![0] = 0f;
            File.WriteAllText(path, zero.ToJsonString());
            var error = Assert.Throws<InvalidDataException>(() => CalibrationResult.Load(directory));
            Assert.Contains("model.layers.0.self_attn.q_proj weight", error.Message);
            Assert.Contains("calibrate again", error.Message);
            if (preset == "fpq:4/4/4")
            {
                var shifted = earlier.DeepClone().AsObject();
                var offsets = shifted["layers"]![1]!["details"]!["activation_offsets"]!.AsArray();
                offsets[0] = offsets[0]!.GetValue<int>() + 1;
                File.WriteAllText(path, shifted.ToJsonString());
                Assert.Contains("input quantizer", Assert.Throws<InvalidDataException>(() => CalibrationResult.Load(directory)).Message);
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static float[]? Scales(TensorQuantizer? quantizer) => quantizer switch
    {
        FpQuantizer fp => fp.Scales,
        ColumnScaledQuantizer { Inner: FpQuantizer inner } => inner.Scales,
        _ => null,
    };

    /// <summary>
    /// The document as the kit wrote it before the exponent bias was the stored quantity: every FP quantizer as float32
    /// scales on a bias-0 format ("E2M1(b=0)"), and the FPQ and MinMax per-layer results repeating the biases.
    /// </summary>
    private static JsonObject ToScaleLayout(JsonObject document)
    {
        string method = document["config"]!["method"]!["type"]!.GetValue<string>();
        foreach (var layer in document["layers"]!.AsArray())
        {
            var o = layer!.AsObject();
            var weight = o["weight_quantizer"].Deserialize<TensorQuantizer>(QuantConfig.JsonOptions) as FpQuantizer;
            var input = o["input_quantizer"].Deserialize<TensorQuantizer>(QuantConfig.JsonOptions) as FpQuantizer;
            var biases = new JsonObject
            {
                ["weight_biases"] = weight is { Granularity.Kind: GranularityKind.PerRow } ? new JsonArray([.. weight.Biases.Select(b => (JsonNode)b)]) : null,
                ["activation_bias"] = input?.Biases[0],
            };
            if (method is "fpq-baseline" or "fpq")
            {
                biases["activation_offsets"] = input?.Offsets is { } offsets ? new JsonArray([.. offsets.Select(x => (JsonNode)x)]) : null;
                foreach (var (key, value) in o["details"]!.AsObject()) biases[key] = value?.DeepClone();
                o["details"] = biases;
            }
            else if (method == "minmax")
            {
                biases.Insert(0, "method", "minmax");
                o["details"] = biases;
            }
        }
        return (JsonObject)WithScales(document)!;
    }

    private static JsonNode? WithScales(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o when o["type"]?.GetValue<string>() == "fp":
                var fp = (FpQuantizer)o.Deserialize<TensorQuantizer>(QuantConfig.JsonOptions)!;
                return new JsonObject
                {
                    ["type"] = "fp", ["format"] = fp.Format.ToString(), ["granularity"] = o["granularity"]!.DeepClone(),
                    ["scales"] = new JsonArray([.. fp.Scales.Select(s => (JsonNode)s)]),
                };
            case JsonObject o:
                foreach (var key in o.Select(p => p.Key).ToList()) o[key] = WithScales(o[key]?.DeepClone());
                return o;
            case JsonArray a:
                for (int i = 0; i < a.Count; i++) a[i] = WithScales(a[i]?.DeepClone());
                return a;
            default:
                return node;
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
