using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LlmFp4.Kit.Calibration;

/// <summary>
/// Reductions of float32 spans accumulated in double, for search objectives whose terms partly cancel. Each
/// product of two floats is exact in double; lanes are summed in a fixed order, so the same input gives the same
/// result on a given machine. The SIMD paths agree with the scalar references to double rounding, not bit for bit
/// (different summation order). NaN propagates.
/// </summary>
internal static class DoubleSums
{
    /// <summary>Σ a[i]·b[i].</summary>
    public static double Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"Dot: lengths {a.Length} and {b.Length} differ.");
        ref float x = ref MemoryMarshal.GetReference(a);
        ref float y = ref MemoryMarshal.GetReference(b);
        int i = 0;
        double total = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var sum0 = Vector512<double>.Zero;
            var sum1 = Vector512<double>.Zero;
            for (; i <= a.Length - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var (xl, xu) = Vector512.Widen(Vector512.LoadUnsafe(ref x, (nuint)i));
                var (yl, yu) = Vector512.Widen(Vector512.LoadUnsafe(ref y, (nuint)i));
                sum0 += xl * yl;
                sum1 += xu * yu;
            }
            total = Vector512.Sum(sum0 + sum1);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var sum0 = Vector256<double>.Zero;
            var sum1 = Vector256<double>.Zero;
            for (; i <= a.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var (xl, xu) = Vector256.Widen(Vector256.LoadUnsafe(ref x, (nuint)i));
                var (yl, yu) = Vector256.Widen(Vector256.LoadUnsafe(ref y, (nuint)i));
                sum0 += xl * yl;
                sum1 += xu * yu;
            }
            total = Vector256.Sum(sum0 + sum1);
        }
        for (; i < a.Length; i++) total += (double)a[i] * b[i];
        return total;
    }

    /// <summary>Σ (a[i] + b[i])², the sum formed in double.</summary>
    public static double SumOfSquaredSums(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"SumOfSquaredSums: lengths {a.Length} and {b.Length} differ.");
        ref float x = ref MemoryMarshal.GetReference(a);
        ref float y = ref MemoryMarshal.GetReference(b);
        int i = 0;
        double total = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var sum0 = Vector512<double>.Zero;
            var sum1 = Vector512<double>.Zero;
            for (; i <= a.Length - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var (xl, xu) = Vector512.Widen(Vector512.LoadUnsafe(ref x, (nuint)i));
                var (yl, yu) = Vector512.Widen(Vector512.LoadUnsafe(ref y, (nuint)i));
                var l = xl + yl;
                var u = xu + yu;
                sum0 += l * l;
                sum1 += u * u;
            }
            total = Vector512.Sum(sum0 + sum1);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var sum0 = Vector256<double>.Zero;
            var sum1 = Vector256<double>.Zero;
            for (; i <= a.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var (xl, xu) = Vector256.Widen(Vector256.LoadUnsafe(ref x, (nuint)i));
                var (yl, yu) = Vector256.Widen(Vector256.LoadUnsafe(ref y, (nuint)i));
                var l = xl + yl;
                var u = xu + yu;
                sum0 += l * l;
                sum1 += u * u;
            }
            total = Vector256.Sum(sum0 + sum1);
        }
        for (; i < a.Length; i++)
        {
            double s = (double)a[i] + b[i];
            total += s * s;
        }
        return total;
    }

    /// <summary>Scalar reference of <see cref="Dot"/>: one double accumulator, ascending i.</summary>
    public static double DotScalar(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double total = 0;
        for (int i = 0; i < a.Length; i++) total += (double)a[i] * b[i];
        return total;
    }

    /// <summary>Scalar reference of <see cref="SumOfSquaredSums"/>.</summary>
    public static double SumOfSquaredSumsScalar(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double total = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double s = (double)a[i] + b[i];
            total += s * s;
        }
        return total;
    }

    /// <summary>
    /// Σ over fixed chunks of <paramref name="a"/>·<paramref name="b"/> computed in parallel, the chunk results added in
    /// chunk order (deterministic for a given length).
    /// </summary>
    public static double DotParallel(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => ChunkedSum(a, b, Dot);

    /// <summary>Parallel <see cref="SumOfSquaredSums"/> with the same fixed chunking.</summary>
    public static double SumOfSquaredSumsParallel(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => ChunkedSum(a, b, SumOfSquaredSums);

    private const int Chunk = 1 << 16;

    private delegate double Reduction(ReadOnlySpan<float> a, ReadOnlySpan<float> b);

    private static unsafe double ChunkedSum(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Reduction reduce)
    {
        if (a.Length != b.Length) throw new ArgumentException($"lengths {a.Length} and {b.Length} differ.");
        if (a.Length <= 2 * Chunk) return reduce(a, b);
        int chunks = (a.Length + Chunk - 1) / Chunk, length = a.Length;
        var partial = new double[chunks];
        fixed (float* pa = a, pb = b)
        {
            nint addressA = (nint)pa, addressB = (nint)pb;
            Parallel.For(0, chunks, c =>
            {
                int start = c * Chunk, count = Math.Min(Chunk, length - start);
                partial[c] = reduce(new ReadOnlySpan<float>((float*)addressA + start, count), new ReadOnlySpan<float>((float*)addressB + start, count));
            });
        }
        double total = 0;
        foreach (double p in partial) total += p;
        return total;
    }
}
