using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LlmFp4.Kit.Calibration;

/// <summary>The Cholesky factor of a symmetric positive semidefinite matrix, in double (vectorised, in a fixed order).</summary>
internal static class Cholesky
{
    /// <summary>
    /// The lower-triangular L with L·Lᵀ = A for a symmetric positive semidefinite [n × n] A (row-major; only its lower
    /// triangle is read). A pivot that is not positive (at most 1e-12 of its diagonal entry: rounding) leaves that column
    /// of L zero, as A has no extent in that direction beyond the earlier columns. Each entry's sum runs in one fixed order
    /// (<see cref="Dot"/>), on any vector width and thread count. (GPTQ keeps its own scalar factorization, whose bytes its
    /// saved results depend on.)
    /// </summary>
    public static double[] LowerSemidefinite(double[] a, int n)
    {
        var l = new double[n * n];
        for (int j = 0; j < n; j++)
        {
            var rowJ = l.AsSpan(j * n, j);
            double diagonal = a[j * n + j] - Dot(rowJ, rowJ);
            if (!(diagonal > 1e-12 * a[j * n + j])) continue;
            double root = Math.Sqrt(diagonal);
            l[j * n + j] = root;
            int column = j;
            void Row(int i) => l[i * n + column] = (a[i * n + column] - Dot(l.AsSpan(i * n, column), l.AsSpan(column * n, column))) / root;
            if ((long)(n - j) * j < 1 << 16)
                for (int i = j + 1; i < n; i++) Row(i);
            else
                Parallel.For(j + 1, n, Row);
        }
        return l;
    }

    /// <summary>Σ a[k]·b[k] with eight lanes (k mod 8) for whole blocks of 8, the lanes added in order, then the tail.</summary>
    internal static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        ref double x = ref MemoryMarshal.GetReference(a);
        ref double y = ref MemoryMarshal.GetReference(b);
        int k = 0, blocks = a.Length / 8 * 8;
        Span<double> lanes = stackalloc double[8];
        if (Vector512.IsHardwareAccelerated)
        {
            var sum = Vector512<double>.Zero;
            for (; k < blocks; k += 8)
                sum = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref x, (nuint)k), Vector512.LoadUnsafe(ref y, (nuint)k), sum);
            sum.CopyTo(lanes);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<double> low = default, high = default;
            for (; k < blocks; k += 8)
            {
                low = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref x, (nuint)k), Vector256.LoadUnsafe(ref y, (nuint)k), low);
                high = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref x, (nuint)(k + 4)), Vector256.LoadUnsafe(ref y, (nuint)(k + 4)), high);
            }
            low.CopyTo(lanes);
            high.CopyTo(lanes[4..]);
        }
        else
        {
            for (; k < blocks; k++) lanes[k % 8] = Math.FusedMultiplyAdd(a[k], b[k], lanes[k % 8]);
        }
        double total = 0;
        foreach (double lane in lanes) total += lane;
        for (; k < a.Length; k++) total = Math.FusedMultiplyAdd(a[k], b[k], total);
        return total;
    }
}
