using LlmFp4.Kit.Analysis;
using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tests.Models;

namespace LlmFp4.Kit.Tests.Analysis;

public class ChannelStatisticsTests
{
    [Fact]
    public void PerChannelRangesAndMagnitudeMomentsOfASmallMatrix()
    {
        // 3 tokens × 2 channels: channel 0 = {1, -3, 2}, channel 1 = {0.5, 0.5, -0.5}.
        float[] x = [1, 0.5f, -3, 0.5f, 2, -0.5f];

        var s = ChannelStatistics.Compute("x", x, tokens: 3, channels: 2);

        Assert.Equal((3, 2), (s.Tokens, s.Channels));
        Assert.Equal([-3f, -0.5f], s.Min);
        Assert.Equal([2f, 0.5f], s.Max);
        Assert.Equal([3f, 0.5f], s.AbsMax);
        Assert.Equal([2.0, 0.5], s.MeanMagnitude);
        Assert.Equal(2.0 / 3, s.MagnitudeVariance[0], 12);   // |x| = {1, 3, 2}
        Assert.Equal(0.0, s.MagnitudeVariance[1]);
        Assert.Equal(1.0 / 3, s.IntraChannelVariance, 12);
        Assert.Equal(0.5625, s.InterChannelVariance, 12);     // means 2 and 0.5 around 1.25
        Assert.Equal(3f, s.TensorAbsMax);
        Assert.Equal(1.75, s.MedianAbsMax);
        Assert.Equal(3 / 1.75, s.AbsMaxSpread, 12);
    }

    [Fact]
    public void InterAndIntraVarianceAddUpToTheVarianceOfAllMagnitudes()
    {
        const int tokens = 200, channels = 16;
        var random = new Random(3);
        var x = new float[tokens * channels];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(random.NextDouble() - 0.5) * (1 + i % channels);

        var s = ChannelStatistics.Compute("x", x, tokens, channels);

        double mean = x.Average(v => Math.Abs((double)v));
        double total = x.Average(v => (Math.Abs((double)v) - mean) * (Math.Abs((double)v) - mean));
        Assert.Equal(total, s.InterChannelVariance + s.IntraChannelVariance, 10);
    }

    [Fact]
    public void ChannelsOfDifferentScaleGiveAHighInterChannelShareAndIdenticalChannelsALowOne()
    {
        const int tokens = 500, channels = 8;
        var random = new Random(5);
        var scaled = new float[tokens * channels];
        var same = new float[tokens * channels];
        for (int t = 0; t < tokens; t++)
            for (int j = 0; j < channels; j++)
            {
                float noise = 1 + 0.1f * (float)(random.NextDouble() - 0.5);
                scaled[t * channels + j] = noise * MathF.Pow(2, j);
                same[t * channels + j] = (float)(random.NextDouble() - 0.5);
            }

        Assert.True(ChannelStatistics.Compute("scaled", scaled, tokens, channels).InterChannelShare > 0.99);
        Assert.True(ChannelStatistics.Compute("same", same, tokens, channels).InterChannelShare < 0.05);
    }

    [Fact]
    public void OutliersAndExponentOffsetsFollowTheChannelRanges()
    {
        // One token; channel ranges 1, 1, 1, 1, 2, 7, 64.
        float[] x = [1, -1, 1, 1, 2, -7, 64];
        var s = ChannelStatistics.Compute("x", x, tokens: 1, channels: 7);

        Assert.Equal(1.0, s.MedianAbsMax);
        Assert.Equal(2, s.OutlierChannels());            // 7 and 64 exceed 6 × 1
        Assert.Equal(1, s.OutlierChannels(factor: 10));
        Assert.Equal([3, 3, 3, 3, 3, 3, 0], s.ExponentOffsets(exponentBits: 2));   // log2(64/a) clipped to 2² − 1
        Assert.Equal([6, 6, 6, 6, 5, 3, 0], s.ExponentOffsets(exponentBits: 3));   // log2(64/7) = 3.19 → 3
        Assert.Throws<ArgumentOutOfRangeException>(() => s.OutlierChannels(0));
    }

    [Fact]
    public void NaNPropagatesIntoItsChannelOnly()
    {
        float[] x = [1, float.NaN, 2, 3];
        var s = ChannelStatistics.Compute("x", x, tokens: 2, channels: 2);
        Assert.Equal(2f, s.AbsMax[0]);
        Assert.True(float.IsNaN(s.AbsMax[1]) && double.IsNaN(s.MeanMagnitude[1]));
    }

    [Fact]
    public void ShapeErrorsNameTheInput()
    {
        var wrong = Assert.Throws<ArgumentException>(() => ChannelStatistics.Compute("layer.x", new float[5], tokens: 2, channels: 3));
        Assert.Contains("layer.x", wrong.Message);
        Assert.Throws<ArgumentException>(() => ChannelStatistics.Compute("empty", [], tokens: 0, channels: 3));
    }

    [Fact]
    public void CaptureMeasuresEveryLinearInputOfTheModelOnTheCalibrationSet()
    {
        var config = LlamaModelTests.TinyConfig(tied: false);
        var model = LlamaModelTests.TinyModel(tied: false);
        var tokens = Enumerable.Range(0, 300).Select(i => i * 7 % config.VocabSize).ToArray();
        var set = CalibrationSet.Sample(tokens, new CalibrationDataSettings { Samples = 3, SequenceLength = 16 });

        var statistics = ActivationStatistics.Capture(model, set);

        Assert.Equal(4 * config.NumHiddenLayers + 1, statistics.Count);
        Assert.Equal("model.layers.0.self_attn.qkv_input", statistics[0].Name);
        Assert.Equal("lm_head_input", statistics[^1].Name);
        Assert.All(statistics, s => Assert.Equal(48, s.Tokens));
        Assert.Equal(config.IntermediateSize, statistics[3].Channels);
        Assert.All(statistics, s => Assert.True(s.TensorAbsMax > 0 && s.IntraChannelVariance > 0));
        var again = ActivationStatistics.Capture(model, set, includeLmHead: false);
        Assert.Equal(statistics.Count - 1, again.Count);
        Assert.Equal(statistics[5].AbsMax, again[5].AbsMax);

        var report = new ActivationReport(statistics);
        string markdown = report.ToMarkdown();
        Assert.Equal(statistics.Count + 2, markdown.TrimEnd('\n').Split('\n').Length);
        Assert.Contains("model.layers.1.mlp.down_proj_input", report.ToHtml());
    }
}
