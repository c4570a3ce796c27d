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
    /// (<see cref="Dot"/>), on any vector width and thread count: the bytes are <see cref="LowerSemidefiniteReference"/>'s.
    /// (GPTQ keeps its own scalar factorization, whose bytes its saved results depend on.)
    /// </summary>
    /// <remarks>
    /// Entry (i, c) is (A[i, c] − Dot(L[i, 0 … c), L[c, 0 … c))) / L[c, c], and Dot sums the whole blocks of eight, k &lt; c / 8 · 8,
    /// in eight lanes before its tail. The eight columns c = j0 … j0 + 7 of a block (j0 a multiple of eight) share those
    /// whole blocks, k &lt; j0, so one pass over row i of L takes the lanes of all eight entries at once
    /// (<see cref="AddBlockLanes"/>) and each column then adds only its tail. The reference reads every row of L once per
    /// column, from memory once L outgrows the cache (128 MB at n = 4096, a narrowed TinyLlama-1.1B layer), with one FMA
    /// chain: this reads it once per eight columns, with eight.
    /// </remarks>
    public static double[] LowerSemidefinite(double[] a, int n)
    {
        var l = new double[n * n];
        var lanes = new double[n * BlockLanes];
        for (int j0 = 0; j0 < n; j0 += 8)
        {
            int width = Math.Min(8, n - j0);
            void Lanes(int i) => AddBlockLanes(l.AsSpan(i * n, j0), l.AsSpan(j0 * n), n, Math.Min(width, i - j0 + 1), lanes.AsSpan(i * BlockLanes, BlockLanes));
            if ((long)(n - j0) * j0 < 1 << 16)
                for (int i = j0; i < n; i++) Lanes(i);
            else
                Parallel.For(j0, n, Lanes);
            for (int c = j0; c < j0 + width; c++)
            {
                var tailC = l.AsSpan(c * n + j0, c - j0);
                double diagonal = a[c * n + c] - FinishDot(lanes.AsSpan(c * BlockLanes + (c - j0) * 8, 8), tailC, tailC);
                if (!(diagonal > 1e-12 * a[c * n + c])) continue;
                double root = Math.Sqrt(diagonal);
                l[c * n + c] = root;
                for (int i = c + 1; i < n; i++)
                    l[i * n + c] = (a[i * n + c] - FinishDot(lanes.AsSpan(i * BlockLanes + (c - j0) * 8, 8), l.AsSpan(i * n + j0, c - j0), tailC)) / root;
            }
        }
        return l;
    }

    /// <summary>Doubles of <see cref="AddBlockLanes"/>' lanes per row: eight lanes for each of a block's eight columns.</summary>
    private const int BlockLanes = 64;

    /// <summary>
    /// lanes[8·c + q] = Σ over k ≡ q (mod 8), ascending, of row[k]·columns[c·stride + k] (fused, as <see cref="Dot"/>'s
    /// lanes) for c &lt; <paramref name="count"/>; row.Length is a multiple of eight.
    /// </summary>
    private static void AddBlockLanes(ReadOnlySpan<double> row, ReadOnlySpan<double> columns, int stride, int count, Span<double> lanes)
    {
        lanes.Clear();
        if (!Vector512.IsHardwareAccelerated)
        {
            for (int c = 0; c < count; c++)
                for (int k = 0; k < row.Length; k++)
                    lanes[8 * c + k % 8] = Math.FusedMultiplyAdd(row[k], columns[c * stride + k], lanes[8 * c + k % 8]);
            return;
        }
        ref double x = ref MemoryMarshal.GetReference(row);
        ref double y = ref MemoryMarshal.GetReference(columns);
        Vector512<double> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
        nuint step = (nuint)stride;
        // A column the block does not reach yet (count < 8, on the rows above the block's last column) reads row 0 of the
        // block instead and its lanes are not stored: every load stays inside the matrix.
        nuint r1 = count > 1 ? step : 0, r2 = count > 2 ? 2 * step : 0, r3 = count > 3 ? 3 * step : 0, r4 = count > 4 ? 4 * step : 0;
        nuint r5 = count > 5 ? 5 * step : 0, r6 = count > 6 ? 6 * step : 0, r7 = count > 7 ? 7 * step : 0;
        for (nuint k = 0; k < (nuint)row.Length; k += 8)
        {
            var v = Vector512.LoadUnsafe(ref x, k);
            s0 = Vector512.FusedMultiplyAdd(v, Vector512.LoadUnsafe(ref y, k), s0);
            s1 = Vector512.FusedMultiplyAdd(v, Vector512.LoadUnsafe(ref y, r1 + k), s1);
            s2 = Vector512.FusedMultiplyAdd(v, Vector512.LoadUnsafe(ref y, r2 + k), s2);
            s3 = Vector512.FusedMultiplyAdd(v, Vector512.LoadUnsafe(ref y, r3 + k), s3);
            s4 = Vector512.FusedMultiplyAdd(v, Vector512.LoadUnsafe(ref y, r4 + k), s4);
            s5 = Vector512.FusedMultiplyAdd(v, Vector512.LoadUnsafe(ref y, r5 + k), s5);
            s6 = Vector512.FusedMultiplyAdd(v, Vector512.LoadUnsafe(ref y, r6 + k), s6);
            s7 = Vector512.FusedMultiplyAdd(v, Vector512.LoadUnsafe(ref y, r7 + k), s7);
        }
        ReadOnlySpan<Vector512<double>> sums = [s0, s1, s2, s3, s4, s5, s6, s7];
        for (int c = 0; c < count; c++) sums[c].CopyTo(lanes.Slice(8 * c, 8));
    }

    /// <summary><see cref="Dot"/> from its lanes: the lanes added in order, then the tail a·b fused in order.</summary>
    private static double FinishDot(ReadOnlySpan<double> lanes, ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double total = 0;
        foreach (double lane in lanes) total += lane;
        for (int k = 0; k < a.Length; k++) total = Math.FusedMultiplyAdd(a[k], b[k], total);
        return total;
    }

    /// <summary>
    /// The plain factorization <see cref="LowerSemidefinite"/> must equal byte for byte: column by column, each entry one
    /// <see cref="Dot"/>.
    /// </summary>
    internal static double[] LowerSemidefiniteReference(double[] a, int n)
    {
        var l = new double[n * n];
        for (int j = 0; j < n; j++)
        {
            var rowJ = l.AsSpan(j * n, j);
            double diagonal = a[j * n + j] - Dot(rowJ, rowJ);
            if (!(diagonal > 1e-12 * a[j * n + j])) continue;
            double root = Math.Sqrt(diagonal);
            l[j * n + j] = root;
            for (int i = j + 1; i < n; i++) l[i * n + j] = (a[i * n + j] - Dot(l.AsSpan(i * n, j), rowJ)) / root;
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
        return FinishDot(lanes, a[k..], b[k..]);
    }
}
