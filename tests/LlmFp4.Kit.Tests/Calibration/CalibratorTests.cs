using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Quantization;
using static LlmFp4.Kit.Tests.Calibration.CalibrationTestData;

namespace LlmFp4.Kit.Tests.Calibration;

public class CalibratorTests
{
    private static readonly SearchSettings SmallGrid = new() { Steps = 6, Rounds = 2 };

    private static (CalibrationResult Result, LlamaModel Quantized) Calibrate(QuantConfig config, LlamaModel model, CalibrationSet set)
    {
        var result = Calibrator.Run(model, config, set);
        var quantized = model.Clone();
        result.Apply(quantized);
        return (result, quantized);
    }

    [Fact]
    public void MinMax_at_8_bits_stays_close_and_4_bits_moves_further()
    {
        var model = TinyModel();
        var set = TinySet();
        var reference = Logits(model, set);
        var (intResult, int8) = Calibrate(QuantPresets.Get("minmax-int:w8a8"), model, set);
        var (_, fp8) = Calibrate(QuantPresets.Get("minmax-fp:8/8/8"), model, set);
        var (_, fp4) = Calibrate(QuantPresets.Get("minmax-fp:4/4/4"), model, set);
        double int8Error = RelativeError(reference, Logits(int8, set)), fp8Error = RelativeError(reference, Logits(fp8, set));
        Assert.InRange(int8Error, 1e-6, 0.1);
        Assert.True(RelativeError(reference, Logits(fp4, set)) > Math.Max(int8Error, fp8Error));

        Assert.Equal(model.Linears.Count, intResult.Layers.Count);
        Assert.All(intResult.Layers, layer => Assert.True(layer.OutputMse > 0));
        Assert.Equal("INT8", intResult.Layers[0].WeightFormat);
        Assert.IsType<IntQuantizer>(intResult.Layers[0].InputQuantizer);
        Assert.NotNull(intResult.Embedding);
        Assert.Equal(set.TokenCount, intResult.CalibrationTokens);
        // The source model is untouched and the quantized copy holds the quantized arrays.
        Assert.Null(model.Linears[0].InputQuantizer);
        Assert.Equal(intResult.Tensors[model.Linears[0].WeightName], int8.Linears[0].Weight);
    }

    [Fact]
    public void Timings_break_the_layer_loop_into_the_search_parts_and_the_output_error()
    {
        var model = TinyModel();
        var set = TinySet();
        var config = QuantPresets.Get("fpq:4/4/4").WithSearch(SmallGrid);
        var fpq = Calibrator.Run(model, config, set).Timings;
        string[] parts = [SearchStages.Grams, SearchStages.WeightCandidates, SearchStages.ActivationSweep, CalibrationContext.LayerErrorStage];
        Assert.All(parts, part => Assert.True(fpq[part] > 0, part));
        Assert.True(parts.Sum(part => fpq[part]) <= fpq["layers"]);
        var groups = InputGroup.ForModel(model, config.QuantizeLmHead).Select(g => g.Name).ToList();
        Assert.True(groups.Sum(g => fpq[CalibrationContext.GroupTiming(g)]) <= fpq["layers"]);
        // Each group's share of a search part sits inside the group's time, and the shares add up to the part.
        Assert.All(groups, g => Assert.True(parts.Sum(part => fpq[CalibrationContext.GroupTiming(g, part)]) <= fpq[CalibrationContext.GroupTiming(g)], g));
        Assert.All(parts, part => Assert.Equal(fpq[part], groups.Sum(g => fpq[CalibrationContext.GroupTiming(g, part)]), 9));

        var minmax = Calibrator.Run(model, QuantPresets.Get("minmax-fp:4/4/4"), set).Timings;
        Assert.True(minmax.ContainsKey(CalibrationContext.LayerErrorStage));
        Assert.False(minmax.ContainsKey(SearchStages.ActivationSweep));
    }

    [Fact]
    public void Fpq_simulated_and_folded_forms_give_identical_logits()
    {
        var model = TinyModel();
        var set = TinySet();
        var config = QuantPresets.Get("fpq:4/4/4").WithSearch(SmallGrid);
        var (result, simulated) = Calibrate(config, model, set);
        var folded = model.Clone();
        result.Apply(folded, foldPreShiftedBias: true);

        Assert.IsType<ColumnScaledQuantizer>(folded.Linears[0].InputQuantizer);
        Assert.NotEqual(simulated.Linears[0].Weight, folded.Linears[0].Weight);
        Assert.Equal(Logits(simulated, set), Logits(folded, set));

        foreach (var layer in result.Layers)
        {
            var details = Assert.IsType<FpqLayerResult>(layer.Details);
            var input = Assert.IsType<FpQuantizer>(layer.InputQuantizer);
            Assert.Equal(layer.InFeatures, input.Offsets!.Length);
            Assert.Single(input.Biases);
            var fold = Assert.IsType<FoldCheck>(details.Fold);
            Assert.InRange(fold.OffGrid, fold.FlushedToZero, fold.NonZero);
            var search = details.Search;
            var last = search.Rounds[^1];
            Assert.Equal(layer.ActivationFormat, last.ActivationFormat);
            Assert.Equal(layer.OutputMse!.Value, last.Activation.Min(c => c.BestError), layer.OutputMse.Value * 1e-3);
            Assert.All(last.Weight, curve => Assert.Equal(SmallGrid.Multipliers().Length, curve.Errors.Length));
        }
        Assert.NotNull(result.Embedding!.Search);
    }

    [Fact]
    public void Pre_shifting_lowers_the_search_objective_against_the_per_tensor_baseline()
    {
        var model = TinyModel();
        var set = TinySet();
        var baseline = Calibrator.Run(model, QuantPresets.Get("fpq-baseline:4/4/4").WithSearch(SmallGrid), set);
        var fpq = Calibrator.Run(model, QuantPresets.Get("fpq:4/4/4").WithSearch(SmallGrid), set);
        Assert.True(fpq.Layers.Sum(l => l.OutputMse!.Value) < baseline.Layers.Sum(l => l.OutputMse!.Value));
        Assert.All(baseline.Layers, l => Assert.IsType<FpQuantizer>(l.InputQuantizer));
        Assert.All(baseline.Layers, l => Assert.Equal(Granularity.PerTensor, ((FpQuantizer)l.InputQuantizer!).Granularity));
    }

    [Fact]
    public void A_saved_result_reloads_to_the_same_model_without_searching()
    {
        var model = TinyModel(tied: true);
        var set = TinySet();
        var config = QuantPresets.Get("fpq-baseline:4/4/8").WithSearch(SmallGrid) with { AttentionMatMuls = QuantSpec.Int(8, Granularity.PerTensor) };
        var (result, applied) = Calibrate(config, model, set);
        var directory = Path.Combine(Path.GetTempPath(), $"calibration-{Guid.NewGuid():N}");
        try
        {
            result.Save(directory);
            var loaded = CalibrationResult.Load(directory);
            Assert.Equal(result.ConfigHash, loaded.ConfigHash);
            Assert.Equal(result.Layers.Count, loaded.Layers.Count);
            Assert.Equal(((FpqLayerResult)result.Layers[3].Details!).Search.Rounds[0].Weight[1].Errors, ((FpqLayerResult)loaded.Layers[3].Details!).Search.Rounds[0].Weight[1].Errors);
            var reloaded = model.Clone();
            loaded.Apply(reloaded);
            Assert.Equal(Logits(applied, set), Logits(reloaded, set));
            Assert.All(reloaded.AttentionMatMulPoints, p => Assert.IsType<IntQuantizer>(p.Quantizer));
            // Tied embeddings: the quantized embedding and the quantized lm_head are separate arrays now.
            Assert.False(ReferenceEquals(reloaded.Embedding.Data, reloaded.LmHead.Weight));
            Assert.Equal(result.Tensors[reloaded.LmHead.WeightName], reloaded.LmHead.Weight);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void Same_config_and_seed_give_the_same_result_bit_for_bit()
    {
        var model = TinyModel();
        var config = QuantPresets.Get("fpq:4/4/4").WithSearch(SmallGrid);
        var first = Calibrator.Run(model, config, TinySet());
        var second = Calibrator.Run(model, config, TinySet());
        Assert.Equal(first.Tensors.Keys, second.Tensors.Keys);
        foreach (var (name, values) in first.Tensors) Assert.Equal(values, second.Tensors[name]);
        var options = QuantConfig.JsonOptions;
        Assert.Equal(System.Text.Json.JsonSerializer.Serialize(first.Layers, options), System.Text.Json.JsonSerializer.Serialize(second.Layers, options));
    }

    [Fact]
    public void A_result_refuses_another_model()
    {
        var set = TinySet();
        var result = Calibrator.Run(TinyModel(), QuantPresets.Get("minmax-int:w8a8"), set);
        var other = LlamaModel.CreateRandom(TinyConfig(), seed: 99, std: 0.2f);
        var error = Assert.Throws<InvalidOperationException>(() => result.Apply(other));
        Assert.Contains(result.Model.WeightsSha256, error.Message);
    }

    [Fact]
    public void Embedding_only_quantization_unties_a_tied_head()
    {
        var model = TinyModel(tied: true);
        var config = new QuantConfig { Method = new MinMaxSettings(), Embedding = QuantSpec.Fp(4, Granularity.PerRow) };
        var (result, quantized) = Calibrate(config, model, TinySet());
        Assert.Empty(result.Layers);
        Assert.Equal(model.Embedding.Data, quantized.LmHead.Weight);
        Assert.NotEqual(model.Embedding.Data, quantized.Embedding.Data);
    }

    [Fact]
    public void SmoothQuant_folds_into_norms_and_keeps_the_function_at_high_precision()
    {
        var model = TinyModel();
        var set = TinySet();
        var config = new QuantConfig
        {
            Method = new SmoothQuantSettings(),
            Weights = QuantSpec.Int(16, Granularity.PerRow),
            Activations = QuantSpec.Int(16, Granularity.PerTensor),
        };
        var (result, smoothed) = Calibrate(config, model, set);
        Assert.InRange(RelativeError(Logits(model, set), Logits(smoothed, set)), 0, 1e-3);
        Assert.NotEqual(model.Layers[0].InputNorm.Data, smoothed.Layers[0].InputNorm.Data);
        Assert.IsType<ColumnScaledQuantizer>(smoothed.Layers[0].OProj.InputQuantizer);
        Assert.IsType<ColumnScaledQuantizer>(smoothed.Layers[0].DownProj.InputQuantizer);
        Assert.IsType<IntQuantizer>(smoothed.Layers[0].QProj.InputQuantizer);
        var q = result.Layers.Single(l => l.Name == "model.layers.0.self_attn.q_proj");
        var k = result.Layers.Single(l => l.Name == "model.layers.0.self_attn.k_proj");
        Assert.Equal(((SmoothQuantLayerResult)q.Details!).SmoothingScales, ((SmoothQuantLayerResult)k.Details!).SmoothingScales);

        var w8a8 = Calibrator.Run(model, QuantPresets.Get("smoothquant:16/8/8"), set);
        var plain = Calibrator.Run(model, QuantPresets.Get("minmax-int:16/8/8"), set);
        Assert.Equal(plain.Layers.Count, w8a8.Layers.Count);
    }

    [Fact]
    public void Gptq_beats_round_to_nearest_on_the_layer_objective()
    {
        var model = TinyModel();
        var set = TinySet(samples: 8);
        var gptq = Calibrator.Run(model, QuantPresets.Get("gptq:w4a16"), set);
        var rtn = Calibrator.Run(model, QuantPresets.Get("minmax-int:w4a16"), set);
        Assert.True(gptq.Layers.Sum(l => l.OutputMse!.Value) < rtn.Layers.Sum(l => l.OutputMse!.Value));
        var gptqFp = Calibrator.Run(model, QuantPresets.Get("gptq-fp:w4a8"), set);
        Assert.All(gptqFp.Layers, l => Assert.IsType<FpQuantizer>(l.WeightQuantizer));
        Assert.All(gptqFp.Layers, l => Assert.NotNull(l.InputQuantizer));
    }
}
