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

    /// <inheritdoc />
    /// <exception cref="ArgumentException">A shape that does not match <paramref name="values"/>, or <see cref="Scales"/> not of <see cref="Granularity"/>'s scale count for it.</exception>
    public override void Apply(Span<float> values, int rows, int cols)
    {
        CheckShape(values, rows, cols, ToString());
        QuantizeMatrix(values, rows, cols, Format, Granularity, Scales, values);
    }

    /// <inheritdoc />
    public override void Apply(ReadOnlySpan<float> source, Span<float> destination, int rows, int cols)
    {
        if (destination.Length != source.Length)
            throw new ArgumentException($"{this}: destination holds {destination.Length} values, source {source.Length}.");
        QuantizeMatrix(source, rows, cols, Format, Granularity, Scales, destination);
    }

    /// <summary>Rows per parallel work item of <see cref="QuantizeMatrix"/>.</summary>
    private const int ChunkElements = 1 << 18;

    /// <summary>
    /// <see cref="FakeQuant.QuantizeMatrix(ReadOnlySpan{float}, int, int, FpFormat, Granularity, ReadOnlySpan{float}, Span{float})"/>
    /// with the same numbers (each row goes through the same span kernel), but per-tensor, per-row and per-column
    /// scales call the span kernels on whole row ranges from fixed parallel chunks: the matrix driver's per-row
    /// overhead made a [16384 × 256] activation about five times slower than the span kernel, and the search
    /// quantizes such a matrix for every candidate.
    /// </summary>
    internal static unsafe void QuantizeMatrix(ReadOnlySpan<float> source, int rows, int cols, FpFormat format, Granularity granularity,
        float[] scales, Span<float> destination)
    {
        if (granularity.Kind == GranularityKind.PerGroup || (long)rows * cols != source.Length || destination.Length != source.Length
            || scales.Length != granularity.ScaleCount(rows, cols))
        {
            FakeQuant.QuantizeMatrix(source, rows, cols, format, granularity, scales, destination);
            return;
        }
        int rowsPerChunk = Math.Max(1, ChunkElements / Math.Max(cols, 1)), chunks = (rows + rowsPerChunk - 1) / rowsPerChunk;
        fixed (float* sourcePointer = source, destinationPointer = destination)
        {
            nint sourceAddress = (nint)sourcePointer, destinationAddress = (nint)destinationPointer;
            void Chunk(int chunk)
            {
                int first = chunk * rowsPerChunk, end = Math.Min(rows, first + rowsPerChunk);
                var x = new ReadOnlySpan<float>((float*)sourceAddress + (long)first * cols, (end - first) * cols);
                var y = new Span<float>((float*)destinationAddress + (long)first * cols, (end - first) * cols);
                switch (granularity.Kind)
                {
                    case GranularityKind.PerTensor:
                        FakeQuant.Quantize(x, format, scales[0], y);
                        break;
                    case GranularityKind.PerRow:
                        for (int r = 0; r < end - first; r++)
                            FakeQuant.Quantize(x.Slice(r * cols, cols), format, scales[first + r], y.Slice(r * cols, cols));
                        break;
                    default:
                        for (int r = 0; r < end - first; r++)
                            FakeQuant.QuantizePerColumn(x.Slice(r * cols, cols), format, scales, y.Slice(r * cols, cols));
                        break;
                }
            }
            if (chunks == 1) Chunk(0);
            else Parallel.For(0, chunks, Chunk);
        }
    }

    /// <summary>Format, granularity and the number of scales.</summary>
    public override string ToString() => $"{Format} {Granularity} ({Scales.Length} scales)";
}
