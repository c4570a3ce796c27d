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
        // The kept change lists grow with k too; the rest of the peak does not.
        Assert.Equal(CostModel.WeightPhaseBytes(shape, setting) - CostModel.WeightPhaseBytes(shape, fewer),
            cost.Project(shape, setting).PeakBytes - CostModel.KeptChangeBytes(shape, setting)
            - (cost.Project(shape, fewer).PeakBytes - CostModel.KeptChangeBytes(shape, fewer)));
    }

    [Fact]
    public void Knob_exponents_scale_the_searched_parts_as_stated()
    {
        var model = new CostModel(new CostSetting(8, 512, 10, 1), 2, new(1e-9, 1), new(1e-6, 1.2), new(1e-6, 1.1), new(1e-7, 1),
            TokenExponent: 0.5, CandidateExponent: 1, RoundExponent: 0.25, Workspace: new(10, 1));
        var shape = CalibrationCost.TinyLlamaShape(512);
        var at = model.Project(shape, model.Setting);
        Assert.Equal(shape.Layers * model.DecoderLayer.At(shape.LayerParameters), at.LayerSeconds, 9);
        var scaled = model.Project(shape, new CostSetting(32, 512, 40, 16));
        double search = Math.Sqrt(4) * 4 * Math.Pow(16, 0.25);
        Assert.Equal(at.LayerSeconds * search, scaled.LayerSeconds, 6);
        Assert.Equal(at.HeadSeconds * search, scaled.HeadSeconds, 6);
        Assert.Equal(at.EmbeddingSeconds * 4 * 2, scaled.EmbeddingSeconds, 6);
        Assert.Throws<ArgumentException>(() => model.Project(shape, new CostSetting(8, 512, 0, 1)));
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
    }

    [Fact]
    public void Width_caveat_names_configs_wider_than_the_fitted_four_bits()
    {
        Assert.Null(CalibrationCost.WidthCaveat(QuantPresets.Get("fpq:4/4/4")));
        Assert.Null(CalibrationCost.WidthCaveat(QuantPresets.Get("fpq-baseline:4/4/4")));
        Assert.Null(CalibrationCost.WidthCaveat(QuantPresets.Get("fpq-fast:4/4/4")));
        Assert.Contains("W4A8", CalibrationCost.WidthCaveat(QuantPresets.Get("fpq-baseline:4/4/8")));
        Assert.Contains("W8A8", CalibrationCost.WidthCaveat(QuantPresets.Get("fpq:8/8/8")));
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

        var (exit, text) = CliRunner.Run("calibrate", "--model", modelFolder, "--config", "fpq:4/4/4", "--calib-size", "4", "--dry-run", "--out", output);
        Assert.Equal(0, exit);
        var expected = CalibrationCost.Fitted.Project(LlamaShape.Of(config), CalibrationCost.PaperSetting with { Samples = 4 });
        Assert.Contains($"Projected: {expected}.", text);
        Assert.Contains("4 × 512 tokens, k = 100, 3 rounds", text);
        Assert.Contains("nothing written", text);
        Assert.DoesNotContain("fitted on 4-bit", text);
        Assert.Equal(before, Directory.GetFileSystemEntries(dir.Path, "*", SearchOption.AllDirectories).Order().ToArray());

        var (wideExit, wide) = CliRunner.Run("calibrate", "--model", modelFolder, "--config", "fpq:8/8/8", "--dry-run", "--out", output);
        Assert.Equal(0, wideExit);
        Assert.Contains(CalibrationCost.WidthCaveat(QuantPresets.Get("fpq:8/8/8"))!, wide);

        var (minMaxExit, minMax) = CliRunner.Run("calibrate", "--model", modelFolder, "--config", "minmax-fp:4/4/4", "--dry-run", "--out", output);
        Assert.Equal(0, minMaxExit);
        Assert.Contains("No projection", minMax);
        Assert.False(Directory.Exists(output));
    }
}
