using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LlmFp4.Kit.Formats;

/// <summary>
/// Quantize-dequantize ("fake-quant") kernels: x → x/scale → nearest value of the format → ×scale, in float32, as the
/// papers' formula q = round(x / s)·s and their PyTorch reference code compute it: x/scale is an IEEE float32 division
/// (never a multiplication by 1/scale, which rounds differently next to grid midpoints), rounding is to nearest, ties
/// to even; a scale of 0 maps every finite value to 0; NaN stays NaN. FP formats round x/scale as
/// <see cref="FpFormat.Quantize(float)"/> does (saturating or overflowing per <see cref="SpecialValues"/>); a format
/// with a real bias b is its integer-bias grid with the factor 2^(⌊b⌋-b) folded into the scale in float32
/// (<see cref="FpFormat.GridScale"/>), which is how the LLM-FP4 reference code's step 2^(p-m-b) divides. Span kernels run on one thread with
/// Vector512 (else Vector256) and are lane-for-lane identical to their scalar reference; the matrix kernels split
/// large matrices into fixed row chunks on the thread pool, which gives the same numbers as a sequential run.
/// Destination may be the source itself (exact aliasing), never a shifted overlap.
/// </summary>
public static class FakeQuant
{
    /// <summary>Matrices with fewer elements run on the calling thread.</summary>
    private const int ParallelThreshold = 1 << 18;

    /// <summary>Elements per parallel work item (whole rows).</summary>
    private const int ChunkElements = 1 << 16;

    internal enum SimdWidth { Scalar, Vector256, Vector512 }

    internal static SimdWidth BestWidth { get; } =
        Vector512.IsHardwareAccelerated ? SimdWidth.Vector512 : Vector256.IsHardwareAccelerated ? SimdWidth.Vector256 : SimdWidth.Scalar;

    // ---------------------------------------------------------------- FP span kernels

    /// <summary>destination[i] = scale · Q(x[i] / scale) for FP format Q (see the class remarks).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="scale"/> negative, NaN or infinite.</exception>
    /// <exception cref="ArgumentException"><paramref name="destination"/> shorter than <paramref name="x"/>.</exception>
    public static void Quantize(ReadOnlySpan<float> x, FpFormat format, float scale, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(format);
        CheckScale(scale);
        CheckDestination(x.Length, destination);
        QuantizeCore(x, format, scale, destination, BestWidth);
    }

    /// <summary>
    /// Per-column scales on one row: destination[j] = scales[j] · Q(x[j] / scales[j]); <paramref name="scales"/> has
    /// one entry per element of <paramref name="x"/> (per input channel of an activation row). Scales are not
    /// validated element by element: give finite non-negative ones.
    /// </summary>
    public static void QuantizePerColumn(ReadOnlySpan<float> x, FpFormat format, ReadOnlySpan<float> scales, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(format);
        CheckPerColumn(x.Length, scales.Length, 0, destination);
        QuantizePerColumnCore(x, format, scales, destination, BestWidth);
    }

    /// <summary>
    /// <see cref="Quantize(ReadOnlySpan{float}, FpFormat, float, Span{float})"/> that also returns Σ(destination[i] - x[i])²,
    /// accumulated in double lanes in a fixed order (same input, same machine → same sum). NaN inputs make it NaN.
    /// </summary>
    public static double QuantizeWithSquaredError(ReadOnlySpan<float> x, FpFormat format, float scale, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(format);
        CheckScale(scale);
        CheckDestination(x.Length, destination);
        QuantizeCore(x, format, scale, destination, BestWidth);
        return SquaredDistance(x, destination[..x.Length]);
    }

    internal static void QuantizeCore(ReadOnlySpan<float> x, FpFormat format, float scale, Span<float> destination, SimdWidth width)
    {
        float gridScale = format.GridScale(scale);
        if (format.HasFastGrid)
        {
            QuantizeOnGrid(x, format.Grid, gridScale, destination, width);
            return;
        }
        float divisor = Divisor(gridScale);
        for (int i = 0; i < x.Length; i++)
            destination[i] = format.RoundToGridExact(x[i] / divisor) * gridScale;
    }

    internal static void QuantizeOnGrid(ReadOnlySpan<float> x, in FpGrid grid, float scale, Span<float> destination) =>
        QuantizeOnGrid(x, grid, scale, destination, BestWidth);

    internal static void QuantizeOnGrid(ReadOnlySpan<float> x, in FpGrid grid, float scale, Span<float> destination, SimdWidth width)
    {
        var g = grid;
        float divisor = Divisor(scale);
        ref float source = ref MemoryMarshal.GetReference(x);
        ref float target = ref MemoryMarshal.GetReference(destination);
        int i = 0;
        if (width == SimdWidth.Vector512)
        {
            var scales = Vector512.Create(scale);
            var divisors = Vector512.Create(divisor);
            for (; i <= x.Length - Vector512<float>.Count; i += Vector512<float>.Count)
                (g.Quantize(Vector512.LoadUnsafe(ref source, (nuint)i) / divisors) * scales).StoreUnsafe(ref target, (nuint)i);
        }
        else if (width == SimdWidth.Vector256)
        {
            var scales = Vector256.Create(scale);
            var divisors = Vector256.Create(divisor);
            for (; i <= x.Length - Vector256<float>.Count; i += Vector256<float>.Count)
                (g.Quantize(Vector256.LoadUnsafe(ref source, (nuint)i) / divisors) * scales).StoreUnsafe(ref target, (nuint)i);
        }
        for (; i < x.Length; i++)
            destination[i] = g.Quantize(x[i] / divisor) * scale;
    }

    internal static void QuantizePerColumnCore(ReadOnlySpan<float> x, FpFormat format, ReadOnlySpan<float> scales, Span<float> destination, SimdWidth width)
    {
        if (!format.HasFastGrid)
        {
            for (int j = 0; j < x.Length; j++)
            {
                float s = format.GridScale(scales[j]);
                destination[j] = format.RoundToGridExact(x[j] / Divisor(s)) * s;
            }
            return;
        }
        var g = format.Grid;
        float gridToValue = format.GridScale(1f);
        ref float source = ref MemoryMarshal.GetReference(x);
        ref float scaleRef = ref MemoryMarshal.GetReference(scales);
        ref float target = ref MemoryMarshal.GetReference(destination);
        int i = 0;
        if (width == SimdWidth.Vector512)
        {
            for (; i <= x.Length - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var s = Vector512.LoadUnsafe(ref scaleRef, (nuint)i) * gridToValue;
                (g.Quantize(Vector512.LoadUnsafe(ref source, (nuint)i) / Divisor(s)) * s).StoreUnsafe(ref target, (nuint)i);
            }
        }
        else if (width == SimdWidth.Vector256)
        {
            for (; i <= x.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var s = Vector256.LoadUnsafe(ref scaleRef, (nuint)i) * gridToValue;
                (g.Quantize(Vector256.LoadUnsafe(ref source, (nuint)i) / Divisor(s)) * s).StoreUnsafe(ref target, (nuint)i);
            }
        }
        for (; i < x.Length; i++)
        {
            float s = scales[i] * gridToValue;
            destination[i] = g.Quantize(x[i] / Divisor(s)) * s;
        }
    }

    // ---------------------------------------------------------------- INT span kernels

    /// <summary>
    /// destination[i] = (clamp(roundHalfEven(x[i] / scale) + z, QMin, QMax) - z) · scale for integer format
    /// <paramref name="format"/> (z = <paramref name="zeroPoint"/>, 0 for symmetric formats). NaN stays NaN; ±∞ clamp.
    /// </summary>
    public static void Quantize(ReadOnlySpan<float> x, IntFormat format, float scale, int zeroPoint, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(format);
        CheckScale(scale);
        CheckZeroPoint(format, zeroPoint);
        CheckDestination(x.Length, destination);
        QuantizeIntCore(x, format, scale, zeroPoint, destination, BestWidth);
    }

    /// <summary>Per-column INT scales (and zero points; empty means all 0) on one row, as <see cref="QuantizePerColumn(ReadOnlySpan{float}, FpFormat, ReadOnlySpan{float}, Span{float})"/>.</summary>
    public static void QuantizePerColumn(ReadOnlySpan<float> x, IntFormat format, ReadOnlySpan<float> scales, ReadOnlySpan<int> zeroPoints, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(format);
        CheckPerColumn(x.Length, scales.Length, zeroPoints.Length, destination);
        QuantizeIntPerColumnCore(x, format, scales, zeroPoints, destination, BestWidth);
    }

    internal static void QuantizeIntCore(ReadOnlySpan<float> x, IntFormat format, float scale, int zeroPoint, Span<float> destination, SimdWidth width)
    {
        float divisor = Divisor(scale), zero = zeroPoint, low = format.QMin, high = format.QMax;
        ref float source = ref MemoryMarshal.GetReference(x);
        ref float target = ref MemoryMarshal.GetReference(destination);
        int i = 0;
        if (width == SimdWidth.Vector512)
        {
            for (; i <= x.Length - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var v = Vector512.LoadUnsafe(ref source, (nuint)i);
                IntLane(v, Vector512.Create(divisor), Vector512.Create(scale), Vector512.Create(zero), Vector512.Create(low), Vector512.Create(high)).StoreUnsafe(ref target, (nuint)i);
            }
        }
        else if (width == SimdWidth.Vector256)
        {
            for (; i <= x.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var v = Vector256.LoadUnsafe(ref source, (nuint)i);
                IntLane(v, Vector256.Create(divisor), Vector256.Create(scale), Vector256.Create(zero), Vector256.Create(low), Vector256.Create(high)).StoreUnsafe(ref target, (nuint)i);
            }
        }
        for (; i < x.Length; i++)
            destination[i] = IntLane(x[i], divisor, scale, zero, low, high);
    }

    internal static void QuantizeIntPerColumnCore(ReadOnlySpan<float> x, IntFormat format, ReadOnlySpan<float> scales, ReadOnlySpan<int> zeroPoints, Span<float> destination, SimdWidth width)
    {
        bool hasZeros = !zeroPoints.IsEmpty;
        float low = format.QMin, high = format.QMax;
        ref float source = ref MemoryMarshal.GetReference(x);
        ref float scaleRef = ref MemoryMarshal.GetReference(scales);
        ref int zeroRef = ref MemoryMarshal.GetReference(zeroPoints);
        ref float target = ref MemoryMarshal.GetReference(destination);
        int i = 0;
        if (width == SimdWidth.Vector512)
        {
            for (; i <= x.Length - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var s = Vector512.LoadUnsafe(ref scaleRef, (nuint)i);
                var z = hasZeros ? Vector512.ConvertToSingle(Vector512.LoadUnsafe(ref zeroRef, (nuint)i)) : Vector512<float>.Zero;
                IntLane(Vector512.LoadUnsafe(ref source, (nuint)i), Divisor(s), s, z, Vector512.Create(low), Vector512.Create(high)).StoreUnsafe(ref target, (nuint)i);
            }
        }
        else if (width == SimdWidth.Vector256)
        {
            for (; i <= x.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var s = Vector256.LoadUnsafe(ref scaleRef, (nuint)i);
                var z = hasZeros ? Vector256.ConvertToSingle(Vector256.LoadUnsafe(ref zeroRef, (nuint)i)) : Vector256<float>.Zero;
                IntLane(Vector256.LoadUnsafe(ref source, (nuint)i), Divisor(s), s, z, Vector256.Create(low), Vector256.Create(high)).StoreUnsafe(ref target, (nuint)i);
            }
        }
        for (; i < x.Length; i++)
            destination[i] = IntLane(x[i], Divisor(scales[i]), scales[i], hasZeros ? zeroPoints[i] : 0f, low, high);
    }

    private static float IntLane(float x, float divisor, float scale, float zero, float low, float high) =>
        float.IsNaN(x) ? x : (Math.Clamp(MathF.Round(x / divisor) + zero, low, high) - zero) * scale;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> IntLane(Vector512<float> x, Vector512<float> divisor, Vector512<float> scale, Vector512<float> zero, Vector512<float> low, Vector512<float> high)
    {
        var code = Vector512.MinNative(Vector512.MaxNative(Vector512.Round(x / divisor) + zero, low), high);
        return Vector512.ConditionalSelect(Vector512.Equals(x, x), (code - zero) * scale, x);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> IntLane(Vector256<float> x, Vector256<float> divisor, Vector256<float> scale, Vector256<float> zero, Vector256<float> low, Vector256<float> high)
    {
        var code = Vector256.MinNative(Vector256.MaxNative(Vector256.Round(x / divisor) + zero, low), high);
        return Vector256.ConditionalSelect(Vector256.Equals(x, x), (code - zero) * scale, x);
    }

    // ---------------------------------------------------------------- matrix kernels

    /// <summary>
    /// Fake-quantizes a row-major [<paramref name="rows"/> × <paramref name="cols"/>] matrix to FP format
    /// <paramref name="format"/> with one scale per <paramref name="granularity"/> slot (layout in <see cref="Granularity"/>).
    /// Large matrices run in parallel over fixed row chunks; the result equals a sequential run bit for bit.
    /// </summary>
    public static void QuantizeMatrix(ReadOnlySpan<float> x, int rows, int cols, FpFormat format, Granularity granularity, ReadOnlySpan<float> scales, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(format);
        CheckMatrix(x.Length, rows, cols, granularity, scales.Length, 0, destination);
        RunMatrix(new FpRows(format, BestWidth), x, rows, cols, granularity, scales, [], destination);
    }

    /// <summary>INT version of <see cref="QuantizeMatrix(ReadOnlySpan{float}, int, int, FpFormat, Granularity, ReadOnlySpan{float}, Span{float})"/>; <paramref name="zeroPoints"/> is laid out like the scales, or empty for all 0.</summary>
    public static void QuantizeMatrix(ReadOnlySpan<float> x, int rows, int cols, IntFormat format, Granularity granularity, ReadOnlySpan<float> scales, ReadOnlySpan<int> zeroPoints, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(format);
        CheckMatrix(x.Length, rows, cols, granularity, scales.Length, zeroPoints.Length, destination);
        RunMatrix(new IntRows(format, BestWidth), x, rows, cols, granularity, scales, zeroPoints, destination);
    }

    internal static void QuantizeMatrix(ReadOnlySpan<float> x, int rows, int cols, FpFormat format, Granularity granularity, ReadOnlySpan<float> scales, Span<float> destination, SimdWidth width, bool parallel) =>
        RunMatrix(new FpRows(format, width), x, rows, cols, granularity, scales, [], destination, parallel);

    internal static void QuantizeMatrix(ReadOnlySpan<float> x, int rows, int cols, IntFormat format, Granularity granularity, ReadOnlySpan<float> scales, ReadOnlySpan<int> zeroPoints, Span<float> destination, SimdWidth width, bool parallel) =>
        RunMatrix(new IntRows(format, width), x, rows, cols, granularity, scales, zeroPoints, destination, parallel);

    /// <summary>
    /// max |x| over each <paramref name="granularity"/> slot of a [rows × cols] matrix into <paramref name="destination"/>
    /// (min-max calibration: scale = absMax / format.MaxValue, or / QMax for INT). NaN propagates.
    /// </summary>
    public static void AbsMax(ReadOnlySpan<float> x, int rows, int cols, Granularity granularity, Span<float> destination)
    {
        CheckMatrix(x.Length, rows, cols, granularity, destination.Length, 0, destination: default, checkDestination: false);
        ReduceSlots(x, rows, cols, granularity, destination, TensorPrimitives.MaxMagnitude, TensorPrimitives.MaxMagnitude);
        TensorPrimitives.Abs(destination, destination);
    }

    /// <summary>Minimum and maximum over each <paramref name="granularity"/> slot (for asymmetric INT). NaN propagates.</summary>
    public static void MinMax(ReadOnlySpan<float> x, int rows, int cols, Granularity granularity, Span<float> minimum, Span<float> maximum)
    {
        CheckMatrix(x.Length, rows, cols, granularity, minimum.Length, 0, destination: default, checkDestination: false);
        if (maximum.Length != minimum.Length)
            throw new ArgumentException($"Minimum holds {minimum.Length} values, maximum {maximum.Length}.", nameof(maximum));
        ReduceSlots(x, rows, cols, granularity, minimum, TensorPrimitives.Min, TensorPrimitives.Min);
        ReduceSlots(x, rows, cols, granularity, maximum, TensorPrimitives.Max, TensorPrimitives.Max);
    }

    private delegate float Reduce(ReadOnlySpan<float> x);
    private delegate void Combine(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> destination);

    private static void ReduceSlots(ReadOnlySpan<float> x, int rows, int cols, Granularity granularity, Span<float> destination, Reduce reduce, Combine combine)
    {
        switch (granularity.Kind)
        {
            case GranularityKind.PerTensor:
                destination[0] = reduce(x);
                break;
            case GranularityKind.PerRow:
                for (int r = 0; r < rows; r++)
                    destination[r] = reduce(x.Slice(r * cols, cols));
                break;
            case GranularityKind.PerColumn:
                x[..cols].CopyTo(destination);
                for (int r = 1; r < rows; r++)
                    combine(destination, x.Slice(r * cols, cols), destination);
                break;
            default:
                int groups = granularity.GroupsPerRow(cols), size = granularity.GroupSize;
                for (int r = 0; r < rows; r++)
                    for (int j = 0; j < groups; j++)
                    {
                        int start = j * size;
                        destination[r * groups + j] = reduce(x.Slice(r * cols + start, Math.Min(size, cols - start)));
                    }
                break;
        }
    }

    /// <summary>One row of a matrix kernel: the element format behind the granularity driver.</summary>
    private interface IRowQuantizer
    {
        void Quantize(ReadOnlySpan<float> x, float scale, int zeroPoint, Span<float> destination);
        void QuantizePerColumn(ReadOnlySpan<float> x, ReadOnlySpan<float> scales, ReadOnlySpan<int> zeroPoints, Span<float> destination);
    }

    private readonly struct FpRows(FpFormat format, SimdWidth width) : IRowQuantizer
    {
        public void Quantize(ReadOnlySpan<float> x, float scale, int zeroPoint, Span<float> destination) => QuantizeCore(x, format, scale, destination, width);
        public void QuantizePerColumn(ReadOnlySpan<float> x, ReadOnlySpan<float> scales, ReadOnlySpan<int> zeroPoints, Span<float> destination) => QuantizePerColumnCore(x, format, scales, destination, width);
    }

    private readonly struct IntRows(IntFormat format, SimdWidth width) : IRowQuantizer
    {
        public void Quantize(ReadOnlySpan<float> x, float scale, int zeroPoint, Span<float> destination) => QuantizeIntCore(x, format, scale, zeroPoint, destination, width);
        public void QuantizePerColumn(ReadOnlySpan<float> x, ReadOnlySpan<float> scales, ReadOnlySpan<int> zeroPoints, Span<float> destination) => QuantizeIntPerColumnCore(x, format, scales, zeroPoints, destination, width);
    }

    private static unsafe void RunMatrix<TRows>(TRows quantizer, ReadOnlySpan<float> x, int rows, int cols, Granularity granularity, ReadOnlySpan<float> scales, ReadOnlySpan<int> zeroPoints, Span<float> destination, bool parallel = true)
        where TRows : struct, IRowQuantizer
    {
        int length = rows * cols, scaleCount = scales.Length, zeroCount = zeroPoints.Length;
        fixed (float* xPointer = x, scalePointer = scales, destinationPointer = destination)
        fixed (int* zeroPointer = zeroPoints)
        {
            // Spans cannot enter the lambda; the pinned addresses can.
            nint xAddress = (nint)xPointer, scaleAddress = (nint)scalePointer, destinationAddress = (nint)destinationPointer, zeroAddress = (nint)zeroPointer;
            ForEachRowChunk(rows, cols, parallel, (first, end) =>
            {
                var xs = new ReadOnlySpan<float>((float*)xAddress, length);
                var ds = new Span<float>((float*)destinationAddress, length);
                var ss = new ReadOnlySpan<float>((float*)scaleAddress, scaleCount);
                var zs = new ReadOnlySpan<int>((int*)zeroAddress, zeroCount);
                for (int r = first; r < end; r++)
                    QuantizeRow(quantizer, xs.Slice(r * cols, cols), r, granularity, ss, zs, ds.Slice(r * cols, cols));
            });
        }
    }

    private static void QuantizeRow<TRows>(TRows quantizer, ReadOnlySpan<float> row, int r, Granularity granularity, ReadOnlySpan<float> scales, ReadOnlySpan<int> zeroPoints, Span<float> destination)
        where TRows : struct, IRowQuantizer
    {
        switch (granularity.Kind)
        {
            case GranularityKind.PerTensor:
                quantizer.Quantize(row, scales[0], zeroPoints.IsEmpty ? 0 : zeroPoints[0], destination);
                break;
            case GranularityKind.PerRow:
                quantizer.Quantize(row, scales[r], zeroPoints.IsEmpty ? 0 : zeroPoints[r], destination);
                break;
            case GranularityKind.PerColumn:
                quantizer.QuantizePerColumn(row, scales, zeroPoints, destination);
                break;
            default:
                int groups = granularity.GroupsPerRow(row.Length), size = granularity.GroupSize;
                for (int j = 0; j < groups; j++)
                {
                    int start = j * size, count = Math.Min(size, row.Length - start), slot = r * groups + j;
                    quantizer.Quantize(row.Slice(start, count), scales[slot], zeroPoints.IsEmpty ? 0 : zeroPoints[slot], destination.Slice(start, count));
                }
                break;
        }
    }

    /// <summary>Runs body(firstRow, endRow) over fixed chunks of whole rows, in parallel when the matrix is large.</summary>
    internal static void ForEachRowChunk(int rows, int cols, bool parallel, Action<int, int> body)
    {
        if (!parallel || (long)rows * cols < ParallelThreshold || rows < 2 || Environment.ProcessorCount == 1)
        {
            body(0, rows);
            return;
        }
        int rowsPerChunk = Math.Max(1, ChunkElements / Math.Max(cols, 1));
        int chunks = (rows + rowsPerChunk - 1) / rowsPerChunk;
        Parallel.For(0, chunks, c => body(c * rowsPerChunk, Math.Min(rows, (c + 1) * rowsPerChunk)));
    }

    // ---------------------------------------------------------------- helpers

    private static double SquaredDistance(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        ref float a = ref MemoryMarshal.GetReference(x);
        ref float b = ref MemoryMarshal.GetReference(y);
        var sum = Vector256<double>.Zero;
        int i = 0;
        for (; i <= x.Length - Vector256<float>.Count; i += Vector256<float>.Count)
        {
            var difference = Vector256.LoadUnsafe(ref a, (nuint)i) - Vector256.LoadUnsafe(ref b, (nuint)i);
            var (lower, upper) = Vector256.Widen(difference);
            sum += lower * lower + upper * upper;
        }
        double total = Vector256.Sum(sum);
        for (; i < x.Length; i++)
        {
            double difference = x[i] - y[i];
            total += difference * difference;
        }
        return total;
    }

    /// <summary>
    /// What x is divided by for a scale: the scale itself, or +∞ for a scale of 0, since x / +∞ is what x · 0 is
    /// (±0 for finite x, NaN for ±∞ and NaN), so a zero scale maps every finite value to 0.
    /// </summary>
    internal static float Divisor(float scale) => scale == 0 ? float.PositiveInfinity : scale;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Divisor(Vector512<float> scales) =>
        Vector512.ConditionalSelect(Vector512.Equals(scales, Vector512<float>.Zero), Vector512.Create(float.PositiveInfinity), scales);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Divisor(Vector256<float> scales) =>
        Vector256.ConditionalSelect(Vector256.Equals(scales, Vector256<float>.Zero), Vector256.Create(float.PositiveInfinity), scales);

    private static void CheckScale(float scale)
    {
        if (!(scale >= 0) || float.IsInfinity(scale))
            throw new ArgumentOutOfRangeException(nameof(scale), scale, "A quantization scale must be finite and non-negative.");
    }

    private static void CheckZeroPoint(IntFormat format, int zeroPoint)
    {
        if (zeroPoint < format.QMin || zeroPoint > format.QMax)
            throw new ArgumentOutOfRangeException(nameof(zeroPoint), zeroPoint, $"{format} zero points lie in {format.QMin}..{format.QMax}.");
    }

    private static void CheckDestination(int length, Span<float> destination)
    {
        if (destination.Length < length)
            throw new ArgumentException($"Destination holds {destination.Length} values, source {length}.", nameof(destination));
    }

    private static void CheckPerColumn(int length, int scaleCount, int zeroCount, Span<float> destination)
    {
        if (scaleCount != length)
            throw new ArgumentException($"Per-column quantization needs one scale per element: {length} elements, {scaleCount} scales.", "scales");
        if (zeroCount != 0 && zeroCount != length)
            throw new ArgumentException($"Zero points: expected {length} or none, got {zeroCount}.", "zeroPoints");
        CheckDestination(length, destination);
    }

    private static void CheckMatrix(int length, int rows, int cols, Granularity granularity, int scaleCount, int zeroCount, Span<float> destination, bool checkDestination = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        if ((long)rows * cols != length)
            throw new ArgumentException($"A [{rows} × {cols}] matrix has {(long)rows * cols} elements; the source has {length}.", "x");
        if (rows * cols == 0)
            throw new ArgumentException("The matrix is empty.", "x");
        int expected = granularity.ScaleCount(rows, cols);
        if (scaleCount != expected)
            throw new ArgumentException($"{granularity} on a [{rows} × {cols}] matrix needs {expected} scales, got {scaleCount}.", "scales");
        if (zeroCount != 0 && zeroCount != expected)
            throw new ArgumentException($"{granularity} on a [{rows} × {cols}] matrix needs {expected} zero points (or none), got {zeroCount}.", "zeroPoints");
        if (checkDestination && destination.Length != length)
            throw new ArgumentException($"Destination holds {destination.Length} values, the [{rows} × {cols}] matrix {length}.", nameof(destination));
    }
}
