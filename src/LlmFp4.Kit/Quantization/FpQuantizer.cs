using LlmFp4.Kit.Formats;

namespace LlmFp4.Kit.Quantization;

/// <summary>
/// Static FP fake quantization: x → s·Q(x / s) with Q = <see cref="Format"/> and one scale s per
/// <see cref="Granularity"/> slot (layout in <see cref="Formats.Granularity"/>). The calibrators use bias-0 formats, so
/// an LLM-FP4 exponent bias b is the scale s = 2^(-b) (<see cref="FpFormat.ScaleForBias"/>); the clipping range is s·Format.MaxValue.
/// </summary>
public sealed record FpQuantizer(FpFormat Format, Granularity Granularity, float[] Scales) : TensorQuantizer
{
    /// <summary>One exponent bias for the whole tensor.</summary>
    public static FpQuantizer PerTensor(FpFormat baseFormat, double bias) =>
        new(baseFormat, Granularity.PerTensor, [BiasScale(baseFormat, bias)]);

    /// <summary>One exponent bias per row (per output channel of a weight, per row of the embedding).</summary>
    public static FpQuantizer PerRow(FpFormat baseFormat, ReadOnlySpan<double> biases) =>
        new(baseFormat, Granularity.PerRow, BiasScales(baseFormat, biases));

    /// <summary>
    /// The pre-shifted bias of FPQ, simulated: input channel j gets bias ρ + offsets[j], i.e. scale 2^-ρ·2^-o_j, formed
    /// in float32 as the shared scale times a power of two (exact) so the folded form reproduces it bit for bit.
    /// </summary>
    public static FpQuantizer PreShifted(FpFormat baseFormat, double rho, ReadOnlySpan<int> offsets)
    {
        float shared = BiasScale(baseFormat, rho);
        var scales = new float[offsets.Length];
        for (int j = 0; j < offsets.Length; j++) scales[j] = MathF.ScaleB(shared, -offsets[j]);
        return new FpQuantizer(baseFormat, Granularity.PerColumn, scales);
    }

    /// <summary>The scale that applies exponent bias <paramref name="bias"/> to <paramref name="baseFormat"/>, in float32.</summary>
    public static float BiasScale(FpFormat baseFormat, double bias) => (float)baseFormat.ScaleForBias(bias);

    internal static float[] BiasScales(FpFormat baseFormat, ReadOnlySpan<double> biases)
    {
        var scales = new float[biases.Length];
        for (int i = 0; i < biases.Length; i++) scales[i] = BiasScale(baseFormat, biases[i]);
        return scales;
    }

    public override void Apply(Span<float> values, int rows, int cols)
    {
        CheckShape(values, rows, cols, ToString());
        FakeQuant.QuantizeMatrix(values, rows, cols, Format, Granularity, Scales, values);
    }

    /// <inheritdoc />
    public override void Apply(ReadOnlySpan<float> source, Span<float> destination, int rows, int cols)
    {
        if (destination.Length != source.Length)
            throw new ArgumentException($"{this}: destination holds {destination.Length} values, source {source.Length}.");
        FakeQuant.QuantizeMatrix(source, rows, cols, Format, Granularity, Scales, destination);
    }

    public override string ToString() => $"{Format} {Granularity} ({Scales.Length} scales)";
}
