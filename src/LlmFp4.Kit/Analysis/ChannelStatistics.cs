using System.Numerics.Tensors;

namespace LlmFp4.Kit.Analysis;

/// <summary>
/// Per-channel statistics of one activation matrix X [tokens × channels] (row-major, a row per token), the input of a
/// linear layer: what a per-tensor quantizer has to cover and why a per-channel exponent bias helps (LLM-FP4 §4,
/// Figs. 2, 5, 6).
/// <para>
/// The variance split is the law of total variance applied to the magnitudes a = |x|: with m_j the mean and v_j the
/// variance of channel j over tokens, Var(a) = Var_j(m_j) + mean_j(v_j), the first term the
/// <see cref="InterChannelVariance"/> (how much channels differ in typical magnitude), the second the
/// <see cref="IntraChannelVariance"/> (how much one channel varies from token to token). Magnitudes rather than
/// signed values because a quantizer's range is set by |x|. All sums are accumulated in double, channel by channel in
/// token order, so results are deterministic; NaN in the input propagates into that channel's statistics.
/// </para>
/// </summary>
public sealed class ChannelStatistics
{
    /// <summary>Default for <see cref="OutlierChannels"/>: a channel whose max|x| exceeds 6 × the median channel's.</summary>
    public const double DefaultOutlierFactor = 6.0;

    private ChannelStatistics(string name, int tokens, float[] min, float[] max, float[] absMax, double[] meanMagnitude, double[] magnitudeVariance)
    {
        Name = name;
        Tokens = tokens;
        Min = min;
        Max = max;
        AbsMax = absMax;
        MeanMagnitude = meanMagnitude;
        MagnitudeVariance = magnitudeVariance;
        IntraChannelVariance = Mean(magnitudeVariance);
        double overallMean = Mean(meanMagnitude);
        double spread = 0;
        foreach (double m in meanMagnitude) spread += (m - overallMean) * (m - overallMean);
        InterChannelVariance = spread / meanMagnitude.Length;
        MedianAbsMax = Median(absMax);
    }

    /// <summary>What was measured, e.g. the input group <c>model.layers.3.mlp.down_input</c>.</summary>
    public string Name { get; }
    /// <summary>Rows of the measured activation (tokens).</summary>
    public int Tokens { get; }
    /// <summary>Columns of the measured activation (input channels).</summary>
    public int Channels => Min.Length;

    /// <summary>Per channel: smallest value over tokens.</summary>
    public float[] Min { get; }

    /// <summary>Per channel: largest value over tokens.</summary>
    public float[] Max { get; }

    /// <summary>Per channel: max|x| over tokens, which sets a per-channel min-max range (and the pre-shifted bias b~_j).</summary>
    public float[] AbsMax { get; }

    /// <summary>Per channel: mean of |x| over tokens.</summary>
    public double[] MeanMagnitude { get; }

    /// <summary>Per channel: population variance of |x| over tokens.</summary>
    public double[] MagnitudeVariance { get; }

    /// <summary>mean_j Var_t |x_tj|.</summary>
    public double IntraChannelVariance { get; }

    /// <summary>Var_j mean_t |x_tj| (population variance over channels).</summary>
    public double InterChannelVariance { get; }

    /// <summary>Share of the variance of |x| explained by which channel a value is in: inter / (inter + intra); 0 for constant input.</summary>
    public double InterChannelShare => InterChannelVariance + IntraChannelVariance is var total and > 0 ? InterChannelVariance / total : 0;

    /// <summary>max|x| of the whole tensor, the range a per-tensor quantizer must cover.</summary>
    public float TensorAbsMax => TensorPrimitives.Max(AbsMax);

    /// <summary>Median over channels of <see cref="AbsMax"/> (mean of the middle two for an even count).</summary>
    public double MedianAbsMax { get; }

    /// <summary><see cref="TensorAbsMax"/> / <see cref="MedianAbsMax"/>: how far the widest channel sticks out (∞ when the median is 0).</summary>
    public double AbsMaxSpread => TensorAbsMax / MedianAbsMax;

    /// <summary>Channels whose max|x| is more than <paramref name="factor"/> × <see cref="MedianAbsMax"/>.</summary>
    public int OutlierChannels(double factor = DefaultOutlierFactor)
    {
        if (!(factor > 0)) throw new ArgumentOutOfRangeException(nameof(factor), factor, "The outlier factor must be positive.");
        double threshold = factor * MedianAbsMax;
        return AbsMax.Count(a => a > threshold);
    }

    /// <summary>
    /// Per-channel exponent offsets that a pre-shifted bias would give this input in an E<paramref name="exponentBits"/>
    /// format: ⌊log2(max_j AbsMax / AbsMax_j)⌉ clipped to [0, 2^e − 1]; the power of two by which channel j's range sits
    /// below the widest channel. (The calibrated offsets are relative to the searched ρ instead; these show the spread.)
    /// All-zero channels get the largest offset.
    /// </summary>
    public int[] ExponentOffsets(int exponentBits)
    {
        if (exponentBits is < 1 or > 8) throw new ArgumentOutOfRangeException(nameof(exponentBits), exponentBits, "Exponent bits must be 1..8.");
        int limit = (1 << exponentBits) - 1;
        double widest = TensorAbsMax;
        return [.. AbsMax.Select(a => a > 0 ? Math.Clamp((int)Math.Round(Math.Log2(widest / a), MidpointRounding.ToEven), 0, limit) : limit)];
    }

    /// <summary>
    /// Statistics of <paramref name="values"/> read as [<paramref name="tokens"/> × <paramref name="channels"/>].
    /// </summary>
    /// <exception cref="ArgumentException">The shape does not match the data, or it is empty.</exception>
    public static ChannelStatistics Compute(string name, ReadOnlySpan<float> values, int tokens, int channels)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (tokens < 1 || channels < 1)
            throw new ArgumentException($"{name}: need at least one token and one channel, got [{tokens} × {channels}].", nameof(values));
        if (values.Length != (long)tokens * channels)
            throw new ArgumentException($"{name}: {values.Length} values do not form [{tokens} × {channels}].", nameof(values));

        var min = values[..channels].ToArray();
        var max = values[..channels].ToArray();
        var sum = new double[channels];
        for (int t = 0; t < tokens; t++)
        {
            var row = values.Slice(t * channels, channels);
            TensorPrimitives.Min(min, row, min);
            TensorPrimitives.Max(max, row, max);
            for (int j = 0; j < channels; j++) sum[j] += Math.Abs(row[j]);
        }
        var mean = new double[channels];
        for (int j = 0; j < channels; j++) mean[j] = sum[j] / tokens;

        // Second pass for the variance: E[a²] − E[a]² would cancel badly for large, nearly constant channels.
        var squares = new double[channels];
        for (int t = 0; t < tokens; t++)
        {
            var row = values.Slice(t * channels, channels);
            for (int j = 0; j < channels; j++)
            {
                double d = Math.Abs(row[j]) - mean[j];
                squares[j] += d * d;
            }
        }
        var variance = new double[channels];
        for (int j = 0; j < channels; j++) variance[j] = squares[j] / tokens;

        var absMax = new float[channels];
        for (int j = 0; j < channels; j++) absMax[j] = MathF.Max(MathF.Abs(min[j]), MathF.Abs(max[j]));
        return new ChannelStatistics(name, tokens, min, max, absMax, mean, variance);
    }

    /// <summary>One line: name, shape, max|x| against the median channel's, and the inter/intra-channel variances.</summary>
    public override string ToString() =>
        $"{Name} [{Tokens} × {Channels}]: max|x| {TensorAbsMax:G4} (median channel {MedianAbsMax:G4}), inter/intra variance {InterChannelVariance:G3}/{IntraChannelVariance:G3}";

    private static double Mean(double[] values)
    {
        double total = 0;
        foreach (double v in values) total += v;
        return total / values.Length;
    }

    private static double Median(float[] values)
    {
        var sorted = values.Select(v => (double)v).Order().ToArray();
        int middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }
}
