using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LlmFp4.Kit.Tensors;

/// <summary>
/// Blocked, packed single-precision GEMM in managed code (GotoBLAS layout): op(B) is packed into
/// <c>KC×NR</c> strips, op(A) into <c>MR×KC</c> panels, and a register-tiled micro-kernel accumulates an
/// <c>MR×NR</c> tile of C with Vector512 (6×32) or Vector256 (6×16) fused multiply-adds.
/// Each element of C is the sum over k in ascending order, in blocks of <see cref="DepthBlock"/>, with one
/// FMA per term, so its value depends only on its row of op(A) and column of op(B): never on m, n,
/// the tile it falls in or the thread that computed it. Work is split over fixed (row block, column block)
/// tiles, so results are bit-identical run to run and across thread counts.
/// </summary>
public sealed unsafe class ManagedGemm : IGemmBackend
{
    /// <summary>Depth of a packed block: an NR strip of B (32 KB at NR = 32) stays in L1 across row panels.</summary>
    internal const int DepthBlock = 256;
    private const int PanelRows = 6;
    private const int RowPanelsPerBlock = 16;
    private const long SerialFlopLimit = 1 << 21;

    private readonly bool _wide;
    private readonly int _panelCols;
    private readonly int _threads;

    /// <summary>Uses Vector512 when the CPU accelerates it, else Vector256, on all processors.</summary>
    public ManagedGemm() : this(Vector512.IsHardwareAccelerated, Environment.ProcessorCount) { }

    /// <param name="useVector512">false forces the Vector256 kernel (for tests on AVX-512 machines).</param>
    /// <param name="threads">Worker count; results do not depend on it.</param>
    public ManagedGemm(bool useVector512, int threads)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), "ManagedGemm needs at least one thread.");
        _wide = useVector512;
        _panelCols = useVector512 ? 32 : 16;
        _threads = threads;
    }

    public string Name => $"managed ({(_wide ? "Vector512" : "Vector256")} {PanelRows}×{_panelCols} kernel, {_threads} threads)";

    public void MatMul(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k,
        bool transposeA, bool transposeB, float alpha, float beta)
    {
        ScaleC(c, beta);
        if (m == 0 || n == 0 || k == 0 || alpha == 0) return;

        int nr = _panelCols;
        int rowPanels = (m + PanelRows - 1) / PanelRows;
        int colPanels = (n + nr - 1) / nr;
        int rowBlocks = (rowPanels + RowPanelsPerBlock - 1) / RowPanelsPerBlock;
        int threads = 2L * m * n * k <= SerialFlopLimit ? 1 : _threads;
        // Few row blocks (small m): also split columns so every thread has work.
        int colBlocks = Math.Min(colPanels, Math.Max(1, (2 * threads + rowBlocks - 1) / rowBlocks));
        int colPanelsPerBlock = (colPanels + colBlocks - 1) / colBlocks;
        colBlocks = (colPanels + colPanelsPerBlock - 1) / colPanelsPerBlock;
        int tasks = rowBlocks * colBlocks;

        float[] packedB = ArrayPool<float>.Shared.Rent(colPanels * nr * DepthBlock);
        try
        {
            fixed (float* pa = a, pb = b, pc = c, pPacked = packedB)
            {
                nint aAddress = (nint)pa, bAddress = (nint)pb, cAddress = (nint)pc, packedAddress = (nint)pPacked;
                for (int p0 = 0; p0 < k; p0 += DepthBlock)
                {
                    int kc = Math.Min(DepthBlock, k - p0);
                    For(colBlocks, threads, block =>
                    {
                        int first = block * colPanelsPerBlock, last = Math.Min(colPanels, first + colPanelsPerBlock);
                        for (int jp = first; jp < last; jp++)
                            PackB((float*)bAddress, transposeB, n, k, p0, kc, jp * nr, nr, (float*)packedAddress + (long)jp * nr * kc);
                    });
                    For(tasks, threads, task =>
                    {
                        int rowBlock = task / colBlocks, colBlock = task % colBlocks;
                        int firstRowPanel = rowBlock * RowPanelsPerBlock;
                        int lastRowPanel = Math.Min(rowPanels, firstRowPanel + RowPanelsPerBlock);
                        int firstColPanel = colBlock * colPanelsPerBlock;
                        int lastColPanel = Math.Min(colPanels, firstColPanel + colPanelsPerBlock);
                        ComputeBlock((float*)aAddress, transposeA, m, k, p0, kc, firstRowPanel, lastRowPanel,
                            (float*)packedAddress, firstColPanel, lastColPanel, n, (float*)cAddress, alpha);
                    });
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(packedB);
        }
    }

    /// <summary>C = beta·C, with beta = 0 clearing C (so NaN or garbage in C does not survive), as BLAS does.</summary>
    internal static void ScaleC(Span<float> c, float beta)
    {
        if (beta == 0) c.Clear();
        else if (beta != 1) TensorPrimitives.Multiply(c, beta, c);
    }

    private static void For(int count, int threads, Action<int> body)
    {
        if (threads == 1 || count == 1)
        {
            for (int i = 0; i < count; i++) body(i);
        }
        else
        {
            Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = threads }, body);
        }
    }

    private void ComputeBlock(float* a, bool transposeA, int m, int k, int p0, int kc, int firstRowPanel, int lastRowPanel,
        float* packedB, int firstColPanel, int lastColPanel, int n, float* c, float alpha)
    {
        int nr = _panelCols;
        int panels = lastRowPanel - firstRowPanel;
        float[] packedA = ArrayPool<float>.Shared.Rent(panels * PanelRows * kc);
        try
        {
            fixed (float* pa = packedA)
            {
                for (int ip = 0; ip < panels; ip++)
                    PackA(a, transposeA, m, k, p0, kc, (firstRowPanel + ip) * PanelRows, pa + (long)ip * PanelRows * kc);
                for (int jp = firstColPanel; jp < lastColPanel; jp++)
                {
                    int j0 = jp * nr, cols = Math.Min(nr, n - j0);
                    float* bPanel = packedB + (long)jp * nr * kc;
                    for (int ip = 0; ip < panels; ip++)
                    {
                        int i0 = (firstRowPanel + ip) * PanelRows, rows = Math.Min(PanelRows, m - i0);
                        float* aPanel = pa + (long)ip * PanelRows * kc;
                        float* cTile = c + (long)i0 * n + j0;
                        if (_wide) Kernel6x32(kc, aPanel, bPanel, cTile, n, alpha, rows, cols);
                        else Kernel6x16(kc, aPanel, bPanel, cTile, n, alpha, rows, cols);
                    }
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(packedA);
        }
    }

    /// <summary>Packs op(A)[i0..i0+6, p0..p0+kc] as kc groups of 6 (rows past m are zero).</summary>
    private static void PackA(float* a, bool transposeA, int m, int k, int p0, int kc, int i0, float* destination)
    {
        int rows = Math.Min(PanelRows, m - i0);
        if (rows < PanelRows) new Span<float>(destination, PanelRows * kc).Clear();
        if (transposeA)
        {
            // A is [k×m]: op(A)[i, p] = a[p·m + i]; each depth step reads `rows` contiguous values.
            for (int p = 0; p < kc; p++)
            {
                float* source = a + (long)(p0 + p) * m + i0;
                float* target = destination + p * PanelRows;
                for (int r = 0; r < rows; r++) target[r] = source[r];
            }
        }
        else
        {
            for (int r = 0; r < rows; r++)
            {
                float* source = a + (long)(i0 + r) * k + p0;
                for (int p = 0; p < kc; p++) destination[p * PanelRows + r] = source[p];
            }
        }
    }

    /// <summary>Packs op(B)[p0..p0+kc, j0..j0+nr] as kc rows of nr (columns past n are zero).</summary>
    private static void PackB(float* b, bool transposeB, int n, int k, int p0, int kc, int j0, int nr, float* destination)
    {
        int cols = Math.Min(nr, n - j0);
        if (cols < nr) new Span<float>(destination, nr * kc).Clear();
        if (transposeB)
        {
            // B is [n×k]: op(B)[p, j] = b[j·k + p].
            for (int j = 0; j < cols; j++)
            {
                float* source = b + (long)(j0 + j) * k + p0;
                for (int p = 0; p < kc; p++) destination[p * nr + j] = source[p];
            }
        }
        else
        {
            for (int p = 0; p < kc; p++)
                new ReadOnlySpan<float>(b + (long)(p0 + p) * n + j0, cols).CopyTo(new Span<float>(destination + p * nr, cols));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6x32(int kc, float* a, float* b, float* c, int ldc, float alpha, int rows, int cols)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector512<float> b0 = Vector512.Load(b), b1 = Vector512.Load(b + 16);
            Vector512<float> x = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a[1]);
            c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a[2]);
            c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a[3]);
            c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a[4]);
            c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a[5]);
            c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
            a += PanelRows;
            b += 32;
        }
        var scale = Vector512.Create(alpha);
        if (rows == PanelRows && cols == 32)
        {
            Accumulate(c, c00, scale); Accumulate(c + 16, c01, scale); c += ldc;
            Accumulate(c, c10, scale); Accumulate(c + 16, c11, scale); c += ldc;
            Accumulate(c, c20, scale); Accumulate(c + 16, c21, scale); c += ldc;
            Accumulate(c, c30, scale); Accumulate(c + 16, c31, scale); c += ldc;
            Accumulate(c, c40, scale); Accumulate(c + 16, c41, scale); c += ldc;
            Accumulate(c, c50, scale); Accumulate(c + 16, c51, scale);
            return;
        }
        float* tile = stackalloc float[PanelRows * 32];
        c00.Store(tile); c01.Store(tile + 16); c10.Store(tile + 32); c11.Store(tile + 48);
        c20.Store(tile + 64); c21.Store(tile + 80); c30.Store(tile + 96); c31.Store(tile + 112);
        c40.Store(tile + 128); c41.Store(tile + 144); c50.Store(tile + 160); c51.Store(tile + 176);
        AccumulatePartial(tile, 32, c, ldc, alpha, rows, cols);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6x16(int kc, float* a, float* b, float* c, int ldc, float alpha, int rows, int cols)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector256<float> b0 = Vector256.Load(b), b1 = Vector256.Load(b + 8);
            Vector256<float> x = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
            x = Vector256.Create(a[1]);
            c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
            x = Vector256.Create(a[2]);
            c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
            x = Vector256.Create(a[3]);
            c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
            x = Vector256.Create(a[4]);
            c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
            x = Vector256.Create(a[5]);
            c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
            a += PanelRows;
            b += 16;
        }
        var scale = Vector256.Create(alpha);
        if (rows == PanelRows && cols == 16)
        {
            Accumulate(c, c00, scale); Accumulate(c + 8, c01, scale); c += ldc;
            Accumulate(c, c10, scale); Accumulate(c + 8, c11, scale); c += ldc;
            Accumulate(c, c20, scale); Accumulate(c + 8, c21, scale); c += ldc;
            Accumulate(c, c30, scale); Accumulate(c + 8, c31, scale); c += ldc;
            Accumulate(c, c40, scale); Accumulate(c + 8, c41, scale); c += ldc;
            Accumulate(c, c50, scale); Accumulate(c + 8, c51, scale);
            return;
        }
        float* tile = stackalloc float[PanelRows * 16];
        c00.Store(tile); c01.Store(tile + 8); c10.Store(tile + 16); c11.Store(tile + 24);
        c20.Store(tile + 32); c21.Store(tile + 40); c30.Store(tile + 48); c31.Store(tile + 56);
        c40.Store(tile + 64); c41.Store(tile + 72); c50.Store(tile + 80); c51.Store(tile + 88);
        AccumulatePartial(tile, 16, c, ldc, alpha, rows, cols);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Accumulate(float* c, Vector512<float> sum, Vector512<float> alpha) =>
        Vector512.FusedMultiplyAdd(sum, alpha, Vector512.Load(c)).Store(c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Accumulate(float* c, Vector256<float> sum, Vector256<float> alpha) =>
        Vector256.FusedMultiplyAdd(sum, alpha, Vector256.Load(c)).Store(c);

    /// <summary>Edge tiles: the same single-rounding c + alpha·sum as the vector path, so edges match interiors.</summary>
    private static void AccumulatePartial(float* tile, int tileStride, float* c, int ldc, float alpha, int rows, int cols)
    {
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++)
                c[(long)r * ldc + j] = MathF.FusedMultiplyAdd(tile[r * tileStride + j], alpha, c[(long)r * ldc + j]);
    }
}
