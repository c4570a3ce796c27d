using LlmFp4.Kit.Analysis;
using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Evaluation;
using LlmFp4.Kit.Experiments;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Notebooks;
using LlmFp4.Kit.Quantization;
using Microsoft.Data.Analysis;
using static LlmFp4.Kit.Tests.Calibration.CalibrationTestData;

namespace LlmFp4.Kit.Tests.Notebooks;

public class DataFramesTests
{
    private static EvalResult Result(string quant, string task, string metric, double value, double? stderr = null) =>
        new("pdllama-7m", quant, task, metric, value, stderr, 250, 0, 1.5, "0.1.0");

    private static object?[] Column(DataFrame frame, string name) => [.. frame.Columns[name].Cast<object?>()];

    [Fact]
    public void EvalResultsBecomeOneRowEachWithNullStderrWhereThereIsNone()
    {
        var frame = new[] { Result("fpq:4/4/4", "continuation", "acc", 0.35, 0.03), Result("fpq:4/4/4", "perplexity", "perplexity", 31.8) }.ToDataFrame();

        Assert.Equal(2, frame.Rows.Count);
        Assert.Equal(["model", "quant", "task", "metric", "value", "stderr", "examples"], frame.Columns.Select(c => c.Name));
        Assert.Equal([0.35, 31.8], Column(frame, "value"));
        Assert.Equal([0.03, null], Column(frame, "stderr"));
        Assert.Equal([250, 250], Column(frame, "examples"));
    }

    [Fact]
    public void AReproduceRunHasOneColumnPerTaskMetricAndNullWhereARowLacksIt()
    {
        var rows = new[]
        {
            new ReproductionRow("full", "full precision", null, [Result("", "continuation", "acc", 0.36), Result("", "perplexity", "perplexity", 29.6)],
                Reused: true, CalibrationReused: false, CalibrationSeconds: 0, EvaluationSeconds: 12.5),
            new ReproductionRow("fpq:4/4/4", "FPQ 4/4/4", QuantPresets.Get("fpq:4/4/4"), [Result("fpq:4/4/4", "perplexity", "perplexity", 31.8)],
                Reused: false, CalibrationReused: false, CalibrationSeconds: 40, EvaluationSeconds: 13),
        };
        var frame = new ReproductionResult(ReproductionConfig.QuickRun, "pdllama-7m", rows).ToDataFrame();

        Assert.Equal(["setting", "row", "continuation acc", "perplexity", "calibration s", "evaluation s", "reused"], frame.Columns.Select(c => c.Name));
        Assert.Equal([0.36, null], Column(frame, "continuation acc"));
        Assert.Equal([29.6, 31.8], Column(frame, "perplexity"));
        Assert.Equal([true, false], Column(frame, "reused"));
        // Sorting works on the numbers, not on formatted text.
        Assert.Equal(["FPQ 4/4/4", "full precision"], frame.OrderByDescending("perplexity").Columns["setting"].Cast<string>());
    }

    [Fact]
    public void ACalibrationHasOneRowPerLinearLayerWithWhatItsMethodChose()
    {
        var model = TinyModel();
        var set = TinySet();
        var fpq = Calibrator.Run(model, QuantPresets.Get("fpq:4/4/4").WithSearch(new SearchSettings { Steps = 4, Rounds = 1 }), set);
        var minMax = Calibrator.Run(model, QuantPresets.Get("minmax-int:w8a8"), set);

        var frame = fpq.ToDataFrame();

        Assert.Equal(fpq.Layers.Count, frame.Rows.Count);
        Assert.Equal(fpq.Layers.Select(l => l.Name), frame.Columns["layer"].Cast<string>());
        Assert.Equal(fpq.Layers.Select(l => (object?)l.OutputMse), Column(frame, "output MSE"));
        Assert.Equal(fpq.Layers.Select(l => (object?)((FpQuantizer)l.InputQuantizer!).Offsets!.Max()), Column(frame, "max offset"));
        Assert.Equal(fpq.Layers.Select(l => (object?)((FpQuantizer)l.WeightQuantizer!).Biases.Average()), Column(frame, "mean weight bias"));
        Assert.All(Column(minMax.ToDataFrame(), "max offset"), Assert.Null);
        Assert.All(Column(minMax.ToDataFrame(), "weight format"), format => Assert.Equal("INT8", format));
    }

    [Fact]
    public void ChannelStatisticsKeepTheirNumbers()
    {
        float[] values = [1, -2, 0.5f, 8, -1, 3];
        var statistics = ChannelStatistics.Compute("model.layers.0.mlp.down_proj_input", values, tokens: 3, channels: 2);

        var frame = new[] { statistics }.ToDataFrame();

        Assert.Equal(["model.layers.0.mlp.down_proj_input"], frame.Columns["input"].Cast<string>());
        Assert.Equal([(object?)3], Column(frame, "tokens"));
        Assert.Equal([(object?)(double)statistics.TensorAbsMax], Column(frame, "max|x|"));
        Assert.Equal([(object?)statistics.InterChannelShare], Column(frame, "inter share"));
        Assert.Equal([(object?)statistics.OutlierChannels()], Column(frame, "outlier channels"));
    }

    [Fact]
    public void A4BitFormatListsItsEightNonNegativeCodes()
    {
        var frame = FpFormat.E2M1.ToDataFrame();

        Assert.Equal(["0000", "0001", "0010", "0011", "0100", "0101", "0110", "0111"], frame.Columns["bits"].Cast<string>());
        Assert.Equal([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0], Column(frame, "value"));
        Assert.Equal(["zero", "subnormal", "normal", "normal", "normal", "normal", "normal", "normal"], frame.Columns["kind"].Cast<string>());
    }

    [Fact]
    public void SpecialCodesAndRealBiasesDecodeAsTheFormatDefinesThem()
    {
        var e4m3 = FpFormat.E4M3.ToDataFrame();
        Assert.Equal("NaN", e4m3.Columns["kind"][127]);
        Assert.Equal(448.0, e4m3.Columns["value"][126]);
        Assert.Equal("infinity", FpFormat.E5M2.ToDataFrame().Columns["kind"][0b1111100]);

        // A real-valued bias (a clipping range of 3) scales every value; Decode alone refuses such a bias.
        var clipped = FpFormat.FromMaxValue(2, 1, 3.0).ToDataFrame();
        Assert.Equal(3.0, (double)clipped.Columns["value"][7]!, 12);
        Assert.Equal(0.25, (double)clipped.Columns["value"][1]!, 12);

        Assert.Throws<ArgumentOutOfRangeException>(() => FpFormat.Half.ToDataFrame());
    }
}
