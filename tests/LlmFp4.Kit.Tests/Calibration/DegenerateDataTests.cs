using System.Text.Json.Nodes;
using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Quantization;
using static LlmFp4.Kit.Tests.Calibration.CalibrationTestData;

namespace LlmFp4.Kit.Tests.Calibration;

/// <summary>All-zero and constant rows, columns, channels and tensors, and non-finite values, through every calibrator.</summary>
public class DegenerateDataTests
{
    public static TheoryData<string> Presets() =>
    [
        "minmax-int:4/4/4", "minmax-fp:4/4/4", "minmax-fp:8/8/8", "fpq-baseline:4/4/4", "fpq:4/4/4", "smoothquant:16/4/4",
        "gptq:4/4/16", "gptq-fp:w4a8", "rptq-w4a4", "fptq-w4a8", "fp6-w6a16", "int4-w4a16", "int4-gptq-w4a16",
    ];

    /// <summary>
    /// A tiny model with: a zero q_proj row and a constant gate_proj row, a zero k_proj column, a zero channel of an input
    /// norm (so that input channel is zero on every token), a zero v_proj (so the o_proj input is zero on every token: an
    /// all-zero calibration activation), and a zero embedding row.
    /// </summary>
    private static LlamaModel DegenerateModel()
    {
        var model = TinyModel();
        int hidden = model.Config.HiddenSize;
        var layer0 = model.Layers[0];
        layer0.QProj.Weight.AsSpan(0, hidden).Clear();
        layer0.GateProj.Weight.AsSpan(2 * hidden, hidden).Fill(0.5f);
        for (int r = 0; r < layer0.KProj.OutFeatures; r++) layer0.KProj.Weight[r * hidden + 3] = 0;
        model.Layers[1].InputNorm.Data[5] = 0;
        Array.Clear(model.Layers[1].VProj.Weight);
        model.Embedding.Data.AsSpan(7 * hidden, hidden).Clear();
        return model;
    }

    private static QuantConfig Small(string preset)
    {
        var config = QuantPresets.Get(preset).WithSearch(new SearchSettings { Steps = 4, Rounds = 2 });
        return config.Method is RptqSettings rptq ? config with { Method = rptq with { Clusters = 4, HeadClusters = 2, Restarts = 2 } } : config;
    }

    [Theory]
    [MemberData(nameof(Presets))]
    public void Zero_and_constant_rows_columns_channels_and_tensors_give_finite_parameters(string preset)
    {
        var model = DegenerateModel();
        var set = TinySet();
        var result = Calibrator.Run(model, Small(preset), set);
        Assert.All(result.Tensors, t => Assert.All(t.Value, v => Assert.True(float.IsFinite(v), $"{t.Key} has {v}")));
        Assert.All(result.Layers, l => Assert.True(l.OutputMse is null || double.IsFinite(l.OutputMse.Value), l.Name));

        string directory = Path.Combine(Path.GetTempPath(), $"degenerate-{Guid.NewGuid():N}");
        try
        {
            result.Save(directory);
            AssertFiniteNumbers(JsonNode.Parse(File.ReadAllText(Path.Combine(directory, CalibrationResult.JsonFile))), "result.json");
            var quantized = model.Clone();
            CalibrationResult.Load(directory).Apply(quantized);
            Assert.All(Logits(quantized, set), v => Assert.True(float.IsFinite(v)));
        }
        finally
        {
            if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void An_all_zero_weight_keeps_the_formats_own_bias()
    {
        var model = DegenerateModel();
        var result = Calibrator.Run(model, QuantPresets.Get("minmax-fp:4/4/4"), TinySet());
        var q = result.Layers.Single(l => l.Name == "model.layers.0.self_attn.q_proj");
        Assert.Null(q.Details);
        Assert.Equal(0, Assert.IsType<FpQuantizer>(q.WeightQuantizer).Biases[0]);
        Assert.All(result.Tensors[q.Name + ".weight"].AsSpan(0, q.InFeatures).ToArray(), v => Assert.Equal(0f, v));
        var o = result.Layers.Single(l => l.Name == "model.layers.1.self_attn.o_proj");
        Assert.Equal(0, Assert.IsType<FpQuantizer>(o.InputQuantizer).Biases.Single());
    }

    [Fact]
    public void A_non_finite_weight_is_an_error_naming_the_tensor_and_nothing_is_written()
    {
        var model = TinyModel();
        model.Layers[1].UpProj.Weight[3] = float.NaN;
        string root = Path.Combine(Path.GetTempPath(), $"degenerate-{Guid.NewGuid():N}");
        var error = Assert.Throws<InvalidDataException>(() => CalibrationCache.GetOrCalibrate(QuantPresets.Get("minmax-int:w8a8"), model, root, _ => TinySet()));
        Assert.Contains("model.layers.1.mlp.up_proj.weight", error.Message);
        Assert.False(Directory.Exists(root));
    }

    [Fact]
    public void A_non_finite_activation_is_an_error_naming_the_input()
    {
        var model = TinyModel();
        // Finite weights whose product overflows: the residual stream becomes infinite after the first attention block.
        model.Layers[0].OProj.Weight.AsSpan().Fill(3e38f);
        var error = Assert.Throws<InvalidDataException>(() => Calibrator.Run(model, QuantPresets.Get("minmax-int:w8a8"), TinySet()));
        Assert.Contains("model.layers.0.mlp.gate_up_input", error.Message);
    }

    private static void AssertFiniteNumbers(JsonNode? node, string path)
    {
        switch (node)
        {
            case JsonObject o: foreach (var (key, value) in o) AssertFiniteNumbers(value, $"{path}.{key}"); break;
            case JsonArray a: for (int i = 0; i < a.Count; i++) AssertFiniteNumbers(a[i], $"{path}[{i}]"); break;
            case JsonValue v when v.GetValueKind() == System.Text.Json.JsonValueKind.Number:
                Assert.True(double.IsFinite(v.GetValue<double>()), path);
                break;
        }
    }
}
