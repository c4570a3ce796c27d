using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Loading;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tests.Evaluation;

namespace LlmFp4.Kit.Tests.Calibration;

/// <summary>The calibration cost model: the power-law fit, shape arithmetic, how a projection moves with each knob.</summary>
public class CalibrationCostTests
{
    [Fact]
    public void Power_law_fit_recovers_an_exact_law()
    {
        double[] x = [256, 1000, 4096, 70_000];
        var fit = PowerLaw.Fit(x, [.. x.Select(v => 3e-4 * Math.Pow(v, 1.37))]);
        Assert.Equal(1.37, fit.Exponent, 10);
        Assert.Equal(3e-4, fit.Coefficient, 12);
        Assert.Throws<ArgumentException>(() => PowerLaw.Fit([1, 1], [2, 3]));
        Assert.Throws<ArgumentException>(() => PowerLaw.Fit([1, 2], [0, 3]));
    }

    [Fact]
    public void Shape_counts_the_parameters_the_model_holds_and_the_published_sizes()
    {
        var config = CalibrationTestData.TinyConfig() with { NumKeyValueHeads = 2 };
        long held = LlamaModel.CreateRandom(config, seed: 1).NamedWeights().Sum(w => (long)w.Tensor.Data.Length);
        Assert.Equal(held, LlamaShape.Of(config).Parameters);
        // TinyLlama-1.1B and LLaMA-7B as their model cards count them.
        Assert.Equal(1_100_048_384, CalibrationCost.TinyLlamaShape(2048).Parameters);
        Assert.Equal(6_738_415_616, CalibrationCost.Llama7BShape.Parameters);
        Assert.Equal(22 * (3 * 2048 + 5632) + 2048, CalibrationCost.TinyLlamaShape(2048).CapturedFeatures);
        Assert.Equal(4 * 2048 + 5632, CalibrationCost.TinyLlamaShape(2048).StreamedFeatures);
    }

    [Fact]
    public void Projection_grows_with_every_knob_and_with_the_model()
    {
        var cost = CalibrationCost.Fitted;
        var shape = CalibrationCost.TinyLlamaShape(1024);
        var setting = CalibrationCost.Reference;
        var at = cost.Project(shape, setting);
        foreach (var more in new[]
                 {
                     cost.Project(shape, setting with { Samples = setting.Samples * 2 }),
                     cost.Project(shape, setting with { Steps = setting.Steps * 2 }),
                     cost.Project(shape, setting with { Rounds = setting.Rounds + 2 }),
                     cost.Project(shape with { Layers = shape.Layers * 2 }, setting),
                     cost.Project(CalibrationCost.TinyLlamaShape(2048), setting),
                 })
        {
            Assert.True(more.Seconds >= at.Seconds, $"{more} < {at}");
            Assert.True(more.PeakBytes >= at.PeakBytes, $"{more} < {at}");
        }
        // One block's inputs and the residual stream are float32 per token and feature: twice the tokens adds exactly that much to the peak.
        var doubled = cost.Project(shape, setting with { Samples = setting.Samples * 2 });
        Assert.Equal(4L * setting.Tokens * shape.StreamedFeatures, doubled.PeakBytes - at.PeakBytes);
        Assert.Equal(2 * at.CaptureSeconds, doubled.CaptureSeconds, 9);
        // Layers scale the decoder-layer part linearly and leave the head and embedding alone.
        var twice = cost.Project(shape with { Layers = 2 * shape.Layers }, setting);
        Assert.Equal(2 * at.LayerSeconds, twice.LayerSeconds, 9);
        Assert.Equal((at.HeadSeconds, at.EmbeddingSeconds), (twice.HeadSeconds, twice.EmbeddingSeconds));
    }

    [Fact]
    public void A_search_of_several_rounds_adds_its_kept_change_lists_to_the_peak_within_their_budget()
    {
        var cost = CalibrationCost.Fitted;
        var small = CalibrationCost.TinyLlamaShape(256);
        var setting = CalibrationCost.PaperSetting;
        Assert.Equal(0, CostModel.KeptChangeBytes(small, setting with { Rounds = 1 }));
        long kept = CostModel.KeptChangeBytes(small, setting);
        // hidden 256, FFN 704: down_proj's 1.5 % of 704 inputs outweighs 2.8 % of 256; 6 bytes, 3 formats, k = 100, 16,384 tokens.
        Assert.Equal((long)(6 * 3.0 * 100 * 16384 * (0.015 * 704)), kept);
        Assert.Equal(kept, cost.Project(small, setting).PeakBytes - cost.Project(small, setting with { Rounds = 1 }).PeakBytes);
        Assert.Equal(KeptChanges.DefaultBudgetBytes, CostModel.KeptChangeBytes(CalibrationCost.TinyLlamaShape(2048), setting));
    }

    [Fact]
    public void The_largest_weight_phase_adds_its_row_errors_and_the_sweeps_tiles_to_the_peak()
    {
        var cost = CalibrationCost.Fitted;
        var shape = CalibrationCost.TinyLlamaShape(2048);
        var setting = CalibrationCost.PaperSetting;
        // k = 100: the sweep's 2.5 copies of down_proj's 5632-wide Gram outweigh the head's 32,000 rows of errors.
        Assert.Equal(8L * 3 * 101 * 2048 + 10L * 5632 * 5632, CostModel.WeightPhaseBytes(shape, setting));
        // k = 20: dense products, no tiles; the head's row errors are the largest.
        var fewer = setting with { Steps = 20 };
        Assert.Equal(8L * 3 * 21 * 32000, CostModel.WeightPhaseBytes(shape, fewer));
        // 8-bit weights: five formats (E1M6 … E5M2) and dense products at any k, so no tiles.
        Assert.Equal(8L * 5 * 101 * 32000, CostModel.WeightPhaseBytes(shape, setting with { WeightBits = 8 }));
        // The kept change lists grow with k too; the rest of the peak does not.
        Assert.Equal(CostModel.WeightPhaseBytes(shape, setting) - CostModel.WeightPhaseBytes(shape, fewer),
            cost.Project(shape, setting).PeakBytes - CostModel.KeptChangeBytes(shape, setting)
            - (cost.Project(shape, fewer).PeakBytes - CostModel.KeptChangeBytes(shape, fewer)));
    }

    [Fact]
    public void Knob_exponents_scale_the_searched_parts_as_stated_and_the_weight_candidates_ignore_the_tokens()
    {
        var model = new CostModel(new CostSetting(8, 512, 10, 1), 2, CapturePerToken: new(1e-9, 1), DecoderLayer: new(1e-6, 1),
            LayerWeightCandidates: new(3e-9, 1.3), LmHead: new(1e-6, 1.1), HeadWeightCandidates: new(2e-7, 1), Embedding: new(1e-7, 1),
            TokenExponent: 0.5, CandidateExponent: 1, RoundExponent: 0.25, Workspace: new(10, 1), Widths: WidthFactors.None);
        var shape = CalibrationCost.TinyLlamaShape(512);
        double layer = shape.LayerParameters, head = 512.0 * 32000;
        var at = model.Project(shape, model.Setting);
        Assert.Equal(shape.Layers * model.LayerSeconds(layer), at.LayerSeconds, 9);
        Assert.Equal(model.HeadSeconds(head), at.HeadSeconds, 9);
        // 4× the tokens (^0.5: 2×) scales all but the weight candidates; 4× k and 16× the rounds (4 · 16^0.25 = 8×) scale everything searched.
        var scaled = model.Project(shape, new CostSetting(32, 512, 40, 16));
        Assert.Equal(shape.Layers * (2 * model.DecoderLayer.At(layer) + model.LayerWeightCandidates.At(layer)) * 8, scaled.LayerSeconds, 6);
        Assert.Equal((2 * model.LmHead.At(head) + model.HeadWeightCandidates.At(head)) * 8, scaled.HeadSeconds, 6);
        Assert.Equal(at.EmbeddingSeconds * 8, scaled.EmbeddingSeconds, 6);
        var moreTokens = model.Project(shape, model.Setting with { Samples = 32 });
        Assert.Equal(shape.Layers * model.DecoderLayer.At(layer), moreTokens.LayerSeconds - at.LayerSeconds, 6);
        Assert.Equal(at.EmbeddingSeconds, moreTokens.EmbeddingSeconds);
        Assert.Throws<ArgumentException>(() => model.Project(shape, new CostSetting(8, 512, 0, 1)));
    }

    [Fact]
    public void Width_factors_scale_the_searched_parts_of_formats_wider_than_four_bits()
    {
        // Constant factors for the decoder layers, laws in P for the head (hidden × vocab) and the embedding.
        var model = CalibrationCost.Fitted with { Widths = new(new(3, 0), new(2, 0), new(1e-3, 0.5), new(2e-3, 0.5), new(1e-2, 0.25)) };
        var shape = CalibrationCost.TinyLlamaShape(512);
        double head = 512.0 * 32000;
        var at = model.Project(shape, model.Setting);
        var eightBitActivations = model.Project(shape, model.Setting with { ActivationBits = 8 });
        Assert.Equal(3 * at.LayerSeconds, eightBitActivations.LayerSeconds, 9);
        Assert.Equal(1e-3 * Math.Sqrt(head) * at.HeadSeconds, eightBitActivations.HeadSeconds, 9);
        Assert.Equal((at.CaptureSeconds, at.EmbeddingSeconds, at.PeakBytes), (eightBitActivations.CaptureSeconds, eightBitActivations.EmbeddingSeconds, eightBitActivations.PeakBytes));
        // Every width above 4 bits takes the 8-bit factors; the embedding has its own, and no search in full precision.
        var wide = model.Project(shape, model.Setting with { EmbeddingBits = 6, WeightBits = 8, ActivationBits = 8 });
        Assert.Equal(6 * at.LayerSeconds, wide.LayerSeconds, 9);
        Assert.Equal(2e-6 * head * at.HeadSeconds, wide.HeadSeconds, 6);
        Assert.Equal(1e-2 * Math.Pow(head, 0.25) * at.EmbeddingSeconds, wide.EmbeddingSeconds, 9);
        Assert.Equal(0, model.Project(shape, model.Setting with { EmbeddingBits = 0 }).EmbeddingSeconds);
        Assert.Equal(at.Seconds, model.Project(shape, model.Setting with { EmbeddingBits = 3, WeightBits = 3, ActivationBits = 2 }).Seconds, 9);
    }

    [Fact]
    public void Budget_knobs_of_a_config_feed_the_setting()
    {
        var fast = QuantPresets.Get("fpq-fast:4/4/4");
        Assert.Equal(new CostSetting(32, 512, QuantPresets.FastSearch.Steps, QuantPresets.FastSearch.Rounds), CostSetting.Of(fast));
        Assert.Equal(CalibrationCost.PaperSetting, CostSetting.Of(QuantPresets.Get("fpq:4/4/4")));
        var json = QuantConfig.FromJson(fast.ToJson());
        Assert.Equal(CostSetting.Of(fast), CostSetting.Of(json));
        Assert.True(CalibrationCost.Fitted.Project(CalibrationCost.TinyLlamaShape(2048), CostSetting.Of(fast)).Seconds
            < CalibrationCost.Fitted.Project(CalibrationCost.TinyLlamaShape(2048), CostSetting.Of(QuantPresets.Get("fpq:4/4/4"))).Seconds);

        Assert.Equal((8, 8, 8), Widths(CostSetting.Of(QuantPresets.Get("fpq:8/8/8"))));
        Assert.Equal((4, 4, 8), Widths(CostSetting.Of(QuantPresets.Get("fpq-baseline:4/4/8"))));
        var unquantizedEmbedding = CostSetting.Of(QuantPresets.Get("fpq:16/4/4"));
        Assert.Equal((0, 4, 4), Widths(unquantizedEmbedding));
        Assert.EndsWith("E/W/A 16/4/4", unquantizedEmbedding.ToString());
        // The fitted 8-bit searches cost more than the 4-bit ones, and so do their projections.
        var shape = CalibrationCost.TinyLlamaShape(1024);
        double Projected(string preset) => CalibrationCost.Fitted.Project(shape, CostSetting.Of(QuantPresets.Get(preset))).Seconds;
        Assert.True(Projected("fpq:4/4/4") < Projected("fpq:4/4/8"));
        Assert.True(Projected("fpq:4/4/8") < Projected("fpq:8/8/8"));

        static (int, int, int) Widths(CostSetting setting) => (setting.EmbeddingBits, setting.WeightBits, setting.ActivationBits);
    }

    [Fact]
    public void Width_caveat_names_widths_the_cost_model_was_not_measured_at()
    {
        foreach (string measured in new[] { "fpq:4/4/4", "fpq-baseline:4/4/4", "fpq-fast:4/4/4", "fpq-baseline:4/4/8", "fpq:8/8/8", "fpq:16/4/4" })
            Assert.Null(CalibrationCost.WidthCaveat(CostSetting.Of(QuantPresets.Get(measured))));
        Assert.Contains("E/W/A 4/6/6", CalibrationCost.WidthCaveat(CostSetting.Of(QuantPresets.Get("fpq:4/6/6"))));
        Assert.Contains("5–7-bit", CalibrationCost.WidthCaveat(CalibrationCost.Reference with { EmbeddingBits = 5 }));
        Assert.Contains("full precision", CalibrationCost.WidthCaveat(CalibrationCost.Reference with { ActivationBits = 0 }));
        Assert.Contains("below 4 bits", CalibrationCost.WidthCaveat(CostSetting.Of(QuantPresets.Get("fpq:3/3/3"))));
        Assert.Contains("below 4 bits", CalibrationCost.WidthCaveat(CalibrationCost.Reference with { WeightBits = 2 }));
    }
}

/// <summary><c>llmfp4 calibrate --dry-run</c> on a tiny model folder.</summary>
[Collection(ProcessWideStateCollection.Name)]
public sealed class CalibrateDryRunTests
{
    [Fact]
    public void Dry_run_prints_the_projection_and_writes_nothing()
    {
        using var dir = new TempDirectory();
        string modelFolder = Path.Combine(dir.Path, "model");
        var config = CalibrationTestData.TinyConfig();
        HfCheckpointWriter.Save(modelFolder, config, LlamaModel.CreateRandom(config, seed: 3).NamedWeights().ToDictionary(w => w.Name, w => w.Tensor.Data));
        var before = Directory.GetFileSystemEntries(dir.Path, "*", SearchOption.AllDirectories).Order().ToArray();
        string output = Path.Combine(dir.Path, "out");

        // The tiny model's context is 64 tokens: the paper's 512-token windows are refused as a real run would refuse them.
        var (longExit, tooLong) = CliRunner.Run("calibrate", "--model", modelFolder, "--config", "fpq:4/4/4", "--dry-run", "--out", output);
        Assert.NotEqual(0, longExit);
        Assert.Contains("context length 64", tooLong);

        var (exit, text) = CliRunner.Run("calibrate", "--model", modelFolder, "--config", "fpq:4/4/4", "--calib-size", "4", "--calib-len", "64", "--dry-run", "--out", output);
        Assert.Equal(0, exit);
        var paperAt64 = CalibrationCost.PaperSetting with { SequenceLength = 64 };
        var expected = CalibrationCost.Fitted.Project(LlamaShape.Of(config), paperAt64 with { Samples = 4 });
        Assert.Contains($"Projected CPU time: {expected}.", text);
        Assert.Contains("4 × 64 tokens, k = 100, 3 rounds, E/W/A 4/4/4", text);
        Assert.Contains("nothing written", text);
        Assert.DoesNotContain("measured at 4- and 8-bit", text);
        Assert.Equal(before, Directory.GetFileSystemEntries(dir.Path, "*", SearchOption.AllDirectories).Order().ToArray());

        var (wideExit, wide) = CliRunner.Run("calibrate", "--model", modelFolder, "--config", "fpq:8/8/8", "--calib-len", "64", "--dry-run", "--out", output);
        Assert.Equal(0, wideExit);
        Assert.Contains($"Projected CPU time: {CalibrationCost.Fitted.Project(LlamaShape.Of(config), paperAt64 with { EmbeddingBits = 8, WeightBits = 8, ActivationBits = 8 })}.", wide);
        Assert.DoesNotContain("measured at 4- and 8-bit", wide);
        var (sixBitExit, sixBit) = CliRunner.Run("calibrate", "--model", modelFolder, "--config", "fpq:6/6/6", "--calib-len", "64", "--dry-run", "--out", output);
        Assert.Equal(0, sixBitExit);
        Assert.Contains(CalibrationCost.WidthCaveat(CostSetting.Of(QuantPresets.Get("fpq:6/6/6")))!, sixBit);

        var (minMaxExit, minMax) = CliRunner.Run("calibrate", "--model", modelFolder, "--config", "minmax-fp:4/4/4", "--calib-len", "64", "--dry-run", "--out", output);
        Assert.Equal(0, minMaxExit);
        Assert.Contains("No projection", minMax);
        Assert.False(Directory.Exists(output));
    }
}
