using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlmFp4.Kit.Tensors;

/// <summary>
/// Blocked, packed single-precision GEMM in managed code (GotoBLAS layout): op(B) is packed into
/// <c>KC×NR</c> strips (a B stored [k×n] is read in place when it is one strip or the product is small), a transposed A
/// into <c>MR×KC</c> panels (a stored [m×k] A is read in place, six rows at a time), and a register-tiled micro-kernel accumulates an
/// <c>MR×NR</c> tile of C with Vector512 (6×32) or Vector256 (6×16) fused multiply-adds; a single row of A
/// (decoding one token) runs a matrix-vector kernel over 128 columns at a time instead.
/// <para>
/// Summation order, the same on every path, vector width and thread count (so the same bytes on any x86-64
/// machine): C is first scaled by beta (cleared when beta = 0); then for each block of
/// <see cref="DepthBlock"/> consecutive k, in ascending order, <c>s = 0; s = fma(op(A)[i,p], op(B)[p,j], s)</c> for p
/// ascending within the block, and <c>C[i,j] = fma(s, alpha, C[i,j])</c>. An element's value therefore depends
/// only on its row of op(A) and column of op(B), never on m, n, the tile it falls in or the thread that
/// computed it. <see cref="ScalarGemm"/> is this definition in plain loops; the tests hold every path to it bit
/// for bit.
/// </para>
/// </summary>
public sealed unsafe class ManagedGemm : IGemmBackend
{
    /// <summary>Depth of a packed block: an NR strip of B (32 KB at NR = 32) stays in L1 across row panels.</summary>
    internal const int DepthBlock = 256;
    private const int PanelRows = 6;
    /// <summary>Most row panels in one task's block: their packed A (96 KB at a depth block of 256) stays in L2 while the column strips pass.</summary>
    private const int RowPanelsPerBlock = 16;
    private const long SerialFlopLimit = 1 << 21;

    /// <summary>
    /// Floats of packed B held at once (1 MB, a core's L2): the kernels read a pass's strips back while they are still in
    /// cache (packing a 4096-deep Gram's 4 MB in one pass made it 10 % slower than passes of 1 MB).
    /// </summary>
    private const long PackedBudgetFloats = 1L << 18;

    /// <summary>Widest and tallest product whose B stored [k×n] the kernels read in place (<see cref="ReadsBInPlace"/>).</summary>
    private const int InPlaceBMaxColumns = 256, InPlaceBMaxRows = 512;

    /// <summary>
    /// Columns of C one matrix-vector task sums: eight Vector512 strips, which <see cref="RowKernel{TRow}"/> keeps as eight
    /// chains in registers to hide the FMA latency (<see cref="RowSums"/> sums one strip at a time).
    /// </summary>
    private const int RowColumns = 128;

    /// <summary>Depth steps of a B stored [k×n] that the matrix-vector kernel reads (or stages in L1) at a time.</summary>
    private const int RowDepthChunk = 64;

    /// <summary>
    /// From this many B elements on, the matrix-vector kernel splits columns over threads (smaller ones are faster alone).
    /// Two Zen 5 cores through <see cref="ForkJoin"/>, medians of 4,000 products: 256 × 256 took 4.5 µs on one thread and 3.7
    /// on two, 256 × 128 2.1 and 2.7.
    /// </summary>
    private const long ParallelRowElements = 1 << 16;

    private readonly bool _wide;
    private readonly int _panelCols;
    private readonly int _threads;

    /// <summary>Uses Vector512 when the CPU accelerates it, else Vector256, on all processors.</summary>
    public ManagedGemm() : this(Vector512.IsHardwareAccelerated, Environment.ProcessorCount) { }

    /// <param name="useVector512">false forces the Vector256 kernel (for tests on AVX-512 machines); ignored where AVX-512 is missing.</param>
    /// <param name="threads">Worker count; results do not depend on it.</param>
    public ManagedGemm(bool useVector512, int threads)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), "ManagedGemm needs at least one thread.");
        _wide = useVector512 && Avx512F.IsSupported;
        _panelCols = _wide ? 32 : 16;
        _threads = threads;
    }

    /// <summary>The summation order's identity (see the class remarks); the same on every vector width and thread count.</summary>
    public const string OrderVersion = "managed summation order 1 (ascending k in blocks of 256, one FMA per term)";

    /// <inheritdoc/>
    public string Version => OrderVersion;

    /// <inheritdoc/>
    public string Name => $"managed ({(_wide ? "Vector512" : "Vector256")} {PanelRows}×{_panelCols} kernel, {_threads} threads)";

    /// <inheritdoc/>
    public void MatMul(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k,
        bool transposeA, bool transposeB, float alpha, float beta) =>
        MatMul(a, b, c, m, n, k, transposeA, transposeB, alpha, beta, CausalSkip.None, 0);

    /// <summary>
    /// <see cref="MatMul(ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, int, int, int, bool, bool, float, float)"/>
    /// for one head of causal attention, where row i of C (query i) sees positions ≤ <paramref name="visibleOffset"/> + i
    /// and the work past them can be skipped: <see cref="CausalSkip.MaskedColumns"/> leaves tiles of C wholly past every row's
    /// last visible column unwritten (the scores, whose masked entries the caller overwrites), and
    /// <see cref="CausalSkip.MaskedDepth"/> stops each row panel's sums after its last row's last visible depth step (the
    /// probabilities times V, whose masked probabilities are zero). Every value written is the one the full product gives
    /// (adding the skipped <c>0 · v</c> terms to a sum never changes it while v is finite), so the summation order holds.
    /// </summary>
    internal void MatMul(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k,
        bool transposeA, bool transposeB, float alpha, float beta, CausalSkip skip, int visibleOffset)
    {
        if (m == 0 || n == 0 || k == 0 || alpha == 0)
        {
            ScaleC(c, beta);
            return;
        }
        if (m == 1 && _wide)
        {
            ScaleC(c, beta);
            fixed (float* pa = a, pb = b, pc = c) RowTimesMatrix(pa, pb, null, transposeB, n, k, pc, alpha);
            return;
        }
        // With beta = 0 the blocked path writes fma(s, alpha, +0) over C in its first depth block instead of clearing C
        // and adding to it: the same values (the cleared C was +0), without a pass over C that the product then reads back.
        bool overwrite = beta == 0;
        if (!overwrite) ScaleC(c, beta);

        int nr = _panelCols;
        int rowPanels = (m + PanelRows - 1) / PanelRows;
        int colPanels = (n + nr - 1) / nr;
        int threads = 2L * m * n * k <= SerialFlopLimit ? 1 : _threads;
        // Rows are split before columns, two blocks per thread where the rows allow: each column block packs its row
        // blocks' A again (a 256-feature Gram split into 3 row × 2 column blocks packed A twice, into 4 row blocks once).
        int rowPanelsPerBlock = Math.Clamp((rowPanels + 2 * threads - 1) / (2 * threads), 1, RowPanelsPerBlock);
        int rowBlocks = (rowPanels + rowPanelsPerBlock - 1) / rowPanelsPerBlock;
        // Few row blocks (small m): also split columns so every thread has work.
        int colBlocks = Math.Min(colPanels, Math.Max(1, (2 * threads + rowBlocks - 1) / rowBlocks));
        int colPanelsPerBlock = (colPanels + colBlocks - 1) / colBlocks;
        colBlocks = (colPanels + colPanelsPerBlock - 1) / colPanelsPerBlock;
        int tasks = rowBlocks * colBlocks;
        // B is packed for as many depth blocks as fit the budget in one parallel pass, and each task then walks those
        // blocks itself: two waits on the thread pool per pass instead of two per depth block (a Gram over 4096 tokens
        // has 16 depth blocks, 4 passes). A task owns its C tiles, so each element still takes its depth blocks in
        // ascending order. A B read in place needs no budget and is walked in one pass: with a transposed A packed a row
        // at a time, every pass's join left the second thread waiting on the first, and TN 256×256×4096 ran 4–5 % faster
        // in one pass (ten alternating runs each).
        long blockFloats = (long)colPanels * nr * DepthBlock;
        int depthBlocks = (k + DepthBlock - 1) / DepthBlock;
        bool bInPlace = ReadsBInPlace(m, n, transposeB, nr);
        int blocksPerPass = bInPlace ? depthBlocks : (int)Math.Clamp(PackedBudgetFloats / blockFloats, 1, depthBlocks);

        // A pass's packing is split into chunks the threads share: of strips when B is stored [n×k] (a strip's rows are
        // contiguous along k), of depth steps when it is stored [k×n], so that a chunk reads whole rows of B in order
        // instead of 128 bytes of every row (with the row blocks above, Grams over 256 features ran 8–10 % faster).
        int packChunks = transposeB ? Math.Min(colPanels, 4 * threads) : 4 * threads;
        float[] packedB = ArrayPool<float>.Shared.Rent(bInPlace ? 0 : (int)(blocksPerPass * blockFloats));
        try
        {
            fixed (float* pa = a, pb = b, pc = c, pPacked = packedB)
            {
                nint aAddress = (nint)pa, bAddress = (nint)pb, cAddress = (nint)pc, packedAddress = (nint)pPacked;
                for (int first = 0; first < depthBlocks; first += blocksPerPass)
                {
                    int passBlocks = Math.Min(blocksPerPass, depthBlocks - first);
                    if (!bInPlace) ForkJoin.For(packChunks * passBlocks, threads, job =>
                    {
                        int block = job / packChunks, chunk = job % packChunks;
                        int p0 = (first + block) * DepthBlock, kc = Math.Min(DepthBlock, k - p0);
                        float* packed = (float*)packedAddress + block * blockFloats;
                        if (transposeB)
                        {
                            int firstPanel = chunk * colPanels / packChunks, lastPanel = (chunk + 1) * colPanels / packChunks;
                            for (int jp = firstPanel; jp < lastPanel; jp++)
                                PackTransposedStrip((float*)bAddress, n, k, p0, kc, jp * nr, nr, packed + (long)jp * nr * kc);
                        }
                        else
                        {
                            int firstStep = chunk * kc / packChunks, lastStep = (chunk + 1) * kc / packChunks;
                            PackDepthSteps((float*)bAddress, n, p0 + firstStep, lastStep - firstStep, nr, kc, packed + firstStep * nr);
                        }
                    });
                    ForkJoin.For(tasks, threads, task =>
                    {
                        int rowBlock = task / colBlocks, colBlock = task % colBlocks;
                        int firstRowPanel = rowBlock * rowPanelsPerBlock;
                        int lastRowPanel = Math.Min(rowPanels, firstRowPanel + rowPanelsPerBlock);
                        int firstColPanel = colBlock * colPanelsPerBlock;
                        int lastColPanel = Math.Min(colPanels, firstColPanel + colPanelsPerBlock);
                        for (int block = 0; block < passBlocks; block++)
                        {
                            int p0 = (first + block) * DepthBlock, kc = Math.Min(DepthBlock, k - p0);
                            // A packed strip's depth steps are nr apart and its strips nr·kc; B's own rows are n apart, its strips nr.
                            float* bBlock = bInPlace ? (float*)bAddress + (long)p0 * n : (float*)packedAddress + block * blockFloats;
                            ComputeBlock((float*)aAddress, transposeA, m, k, p0, kc, firstRowPanel, lastRowPanel,
                                bBlock, bInPlace ? nr : (long)nr * kc, bInPlace ? n : nr, firstColPanel, lastColPanel, n,
                                (float*)cAddress, alpha, overwrite && p0 == 0, skip, visibleOffset);
                        }
                    });
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(packedB);
        }
    }

    /// <summary>
    /// <c>c[1×n] += alpha · x[1×k] · op(B)</c> (x is contiguous whether A is transposed or not), 128 columns per task,
    /// in the tiled kernel's summation order. A B stored [n×k] (a weight, decoding) goes through <see cref="RowSums"/>, 16×16
    /// blocks transposed in registers into the FMAs; of a B stored [k×n], chunks of 64 depth steps are read in place (or
    /// staged in L1 as [64 × 128] for a last, partial group) and <see cref="RowKernel{TRow}"/> runs 8 independent FMA
    /// chains over them. B is <paramref name="b"/>, or <paramref name="halfB"/> ([k×n] binary16,
    /// <see cref="RowTimesHalfColumns"/>) when that is set.
    /// </summary>
    private void RowTimesMatrix(float* x, float* b, Half* halfB, bool transposeB, int n, int k, float* c, float alpha)
    {
        int groups = (n + RowColumns - 1) / RowColumns;
        int threads = MatrixVectorThreads(n, k);
        nint xAddress = (nint)x, bAddress = (nint)b, halfAddress = (nint)halfB, cAddress = (nint)c;
        ForkJoin.For(groups, threads, group => RowTimesColumns((float*)xAddress, (float*)bAddress, (Half*)halfAddress, transposeB, n, k, group * RowColumns, (float*)cAddress, alpha));
    }

    /// <summary>Threads the matrix-vector kernel runs on for an [n × k] matrix: one below <see cref="ParallelRowElements"/>.</summary>
    internal int MatrixVectorThreads(int n, int k) => (long)n * k >= ParallelRowElements ? _threads : 1;

    /// <summary>True where <see cref="RowTimesHalfColumns"/> and <see cref="RowTimesInt4Columns"/> run (the Vector512 matrix-vector kernels).</summary>
    internal bool MultipliesInputMajorWeights => _wide;

    /// <summary>
    /// <c>c[1×n] = x[1×k]·Wᵀ</c> for a binary16 weight W [n×k] held input-major (<see cref="HalfColumns"/>): the same
    /// bytes as converting W to float32 and calling <c>MatMul(x, W, c, 1, n, k, transposeB: true)</c>, because the
    /// conversion is exact and every output sums the same terms in the same order; W's values are widened as the kernel
    /// reads them, so the float32 matrix is never written out. Decoding one token with F16 weights reads half the bytes
    /// of float32 weights instead of converting every layer into a buffer first.
    /// </summary>
    /// <exception cref="InvalidOperationException">The Vector512 kernel is off (<see cref="MultipliesInputMajorWeights"/>).</exception>
    /// <exception cref="ArgumentException">x has fewer than W.Inputs values or c fewer than W.Outputs.</exception>
    internal void RowTimesHalfColumns(ReadOnlySpan<float> x, HalfColumns w, Span<float> c)
    {
        if (!_wide) throw new InvalidOperationException("RowTimesHalfColumns needs the Vector512 matrix-vector kernel.");
        int n = w.Outputs, k = w.Inputs;
        if (x.Length < k || c.Length < n)
            throw new ArgumentException($"RowTimesHalfColumns: x {x.Length} (needs {k}), c {c.Length} (needs {n}).");
        c[..n].Clear();
        fixed (float* px = x, pc = c)
        fixed (Half* pw = w.Values)
            RowTimesMatrix(px, null, pw, false, n, k, pc, 1f);
    }

    /// <summary>
    /// <c>c[1×n] = x[1×k]·Wᵀ</c> for a 4-bit weight W [n×k] held input-major (<see cref="Int4Columns"/>): the same bytes
    /// as decoding W to float32 and calling <c>MatMul(x, W, c, 1, n, k, transposeB: true)</c>, because every output sums
    /// the same decoded terms in the same order (per 256-deep block from zero, k ascending, one FMA per term, then added
    /// to c); the codes are decoded in registers as the kernel reads them, so no float32 tile is written out.
    /// </summary>
    /// <exception cref="InvalidOperationException">The Vector512 kernel is off (<see cref="MultipliesInputMajorWeights"/>).</exception>
    /// <exception cref="ArgumentException">x has fewer than W.Inputs values or c fewer than W.Outputs.</exception>
    internal void RowTimesInt4Columns(ReadOnlySpan<float> x, Int4Columns w, Span<float> c)
    {
        if (!_wide) throw new InvalidOperationException("RowTimesInt4Columns needs the Vector512 matrix-vector kernel.");
        int n = w.Outputs, k = w.Inputs;
        if (x.Length < k || c.Length < n)
            throw new ArgumentException($"RowTimesInt4Columns: x {x.Length} (needs {k}), c {c.Length} (needs {n}).");
        c[..n].Clear();
        int groups = (n + RowColumns - 1) / RowColumns;
        int threads = MatrixVectorThreads(n, k);
        fixed (float* px = x, pc = c)
        {
            nint xAddress = (nint)px, cAddress = (nint)pc;
            ForkJoin.For(groups, threads, group => Int4ColumnGroup((float*)xAddress, w, group * RowColumns, (float*)cAddress));
        }
    }

    /// <summary>One group of 128 outputs of <see cref="RowTimesInt4Columns"/>, four strips of 16 at a time.</summary>
    [SkipLocalsInit]
    private static void Int4ColumnGroup(float* x, Int4Columns w, int j0, float* c)
    {
        // A pass of four strips may run past the group's last (re-reading the matrix's last strip): its sums land in
        // columns past cols, which are never added to c.
        float* sums = stackalloc float[RowColumns];
        int cols = Math.Min(RowColumns, w.Outputs - j0), firstStrip = j0 / Int4Columns.StripRows;
        int strips = (cols + Int4Columns.StripRows - 1) / Int4Columns.StripRows;
        fixed (byte* nibbles = w.Nibbles, zeros = w.Zeros)
        fixed (float* scales = w.Scales)
            for (int p0 = 0; p0 < w.Inputs; p0 += DepthBlock)
            {
                int end = Math.Min(w.Inputs, p0 + DepthBlock);
                new Span<float>(sums, RowColumns).Clear();
                for (int s = 0; s < strips; s += 4)
                    for (int g0 = p0; g0 < end; g0 = Math.Min(end, (g0 / w.GroupSize + 1) * w.GroupSize))
                    {
                        int g1 = Math.Min(end, (g0 / w.GroupSize + 1) * w.GroupSize);
                        RowKernelInt4(x, w, nibbles, zeros, scales, firstStrip + s, g0, g1, sums + s * Int4Columns.StripRows);
                    }
                AccumulatePartial(sums, RowColumns, c + j0, 0, 1f, 1, cols, overwrite: false);
            }
    }

    /// <summary>
    /// <c>sums[16·i + l] = fma(x[p], W[16·(strip + i) + l, p], …)</c> for p = from … to − 1 ascending (inside one group) and
    /// four strips i (those past the last strip read the last one again), each code decoded as <see cref="Int4Columns.Value"/>:
    /// (n − z) converted exactly, times the scale.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowKernelInt4(float* x, Int4Columns w, byte* nibbles, byte* zeros, float* scales, int strip, int from, int to, float* sums)
    {
        const int lanes = Int4Columns.StripRows;
        int last = w.Strips - 1, g = from / w.GroupSize;
        int s0 = strip, s1 = Math.Min(strip + 1, last), s2 = Math.Min(strip + 2, last), s3 = Math.Min(strip + 3, last);
        var z0 = Avx512F.ConvertToVector512Int32(Vector128.Load(zeros + (s0 * w.Groups + g) * lanes));
        var z1 = Avx512F.ConvertToVector512Int32(Vector128.Load(zeros + (s1 * w.Groups + g) * lanes));
        var z2 = Avx512F.ConvertToVector512Int32(Vector128.Load(zeros + (s2 * w.Groups + g) * lanes));
        var z3 = Avx512F.ConvertToVector512Int32(Vector128.Load(zeros + (s3 * w.Groups + g) * lanes));
        var f0 = Vector512.Load(scales + (s0 * w.Groups + g) * lanes);
        var f1 = Vector512.Load(scales + (s1 * w.Groups + g) * lanes);
        var f2 = Vector512.Load(scales + (s2 * w.Groups + g) * lanes);
        var f3 = Vector512.Load(scales + (s3 * w.Groups + g) * lanes);
        byte* n0 = nibbles + (long)s0 * w.Pairs * lanes, n1 = nibbles + (long)s1 * w.Pairs * lanes;
        byte* n2 = nibbles + (long)s2 * w.Pairs * lanes, n3 = nibbles + (long)s3 * w.Pairs * lanes;
        Vector512<float> a0 = Vector512.Load(sums), a1 = Vector512.Load(sums + 16), a2 = Vector512.Load(sums + 32), a3 = Vector512.Load(sums + 48);
        var fifteen = Vector512.Create(15);
        int p = from;
        for (; p + 1 < to; p += 2)
        {
            long offset = (long)(p / 2) * lanes;
            var x0 = Vector512.Create(x[p]);
            var x1 = Vector512.Create(x[p + 1]);
            var c0 = Avx512F.ConvertToVector512Int32(Vector128.Load(n0 + offset));
            var c1 = Avx512F.ConvertToVector512Int32(Vector128.Load(n1 + offset));
            var c2 = Avx512F.ConvertToVector512Int32(Vector128.Load(n2 + offset));
            var c3 = Avx512F.ConvertToVector512Int32(Vector128.Load(n3 + offset));
            a0 = Vector512.FusedMultiplyAdd(x0, Vector512.ConvertToSingle((c0 & fifteen) - z0) * f0, a0);
            a1 = Vector512.FusedMultiplyAdd(x0, Vector512.ConvertToSingle((c1 & fifteen) - z1) * f1, a1);
            a2 = Vector512.FusedMultiplyAdd(x0, Vector512.ConvertToSingle((c2 & fifteen) - z2) * f2, a2);
            a3 = Vector512.FusedMultiplyAdd(x0, Vector512.ConvertToSingle((c3 & fifteen) - z3) * f3, a3);
            a0 = Vector512.FusedMultiplyAdd(x1, Vector512.ConvertToSingle((c0 >> 4) - z0) * f0, a0);
            a1 = Vector512.FusedMultiplyAdd(x1, Vector512.ConvertToSingle((c1 >> 4) - z1) * f1, a1);
            a2 = Vector512.FusedMultiplyAdd(x1, Vector512.ConvertToSingle((c2 >> 4) - z2) * f2, a2);
            a3 = Vector512.FusedMultiplyAdd(x1, Vector512.ConvertToSingle((c3 >> 4) - z3) * f3, a3);
        }
        if (p < to)
        {
            // An odd last input: the low nibbles of its pair only.
            long offset = (long)(p / 2) * lanes;
            var x0 = Vector512.Create(x[p]);
            a0 = Vector512.FusedMultiplyAdd(x0, Vector512.ConvertToSingle((Avx512F.ConvertToVector512Int32(Vector128.Load(n0 + offset)) & fifteen) - z0) * f0, a0);
            a1 = Vector512.FusedMultiplyAdd(x0, Vector512.ConvertToSingle((Avx512F.ConvertToVector512Int32(Vector128.Load(n1 + offset)) & fifteen) - z1) * f1, a1);
            a2 = Vector512.FusedMultiplyAdd(x0, Vector512.ConvertToSingle((Avx512F.ConvertToVector512Int32(Vector128.Load(n2 + offset)) & fifteen) - z2) * f2, a2);
            a3 = Vector512.FusedMultiplyAdd(x0, Vector512.ConvertToSingle((Avx512F.ConvertToVector512Int32(Vector128.Load(n3 + offset)) & fifteen) - z3) * f3, a3);
        }
        a0.Store(sums); a1.Store(sums + 16); a2.Store(sums + 32); a3.Store(sums + 48);
    }

    /// <summary>One group of 128 columns of <see cref="RowTimesMatrix"/>.</summary>
    [SkipLocalsInit]
    private static void RowTimesColumns(float* x, float* b, Half* halfB, bool transposeB, int n, int k, int j0, float* c, float alpha)
    {
        float* stage = stackalloc float[RowDepthChunk * RowColumns];
        float* sums = stackalloc float[RowColumns];
        int cols = Math.Min(RowColumns, n - j0);
        bool inPlace = !transposeB && cols == RowColumns;
        for (int p0 = 0; p0 < k; p0 += DepthBlock)
        {
            int kc = Math.Min(DepthBlock, k - p0);
            new Span<float>(sums, RowColumns).Clear();
            if (transposeB && halfB is null)
                RowSums(x + p0, b + (long)j0 * k + p0, k, kc, cols, sums);
            else
                for (int q = p0; q < p0 + kc; q += RowDepthChunk)
                {
                    int depth = Math.Min(RowDepthChunk, p0 + kc - q);
                    if (halfB is not null && inPlace)
                        RowKernel<Half16Row>(x + q, halfB + (long)q * n + j0, n, depth, sums);
                    else if (halfB is not null)
                    {
                        StageHalfColumns(halfB, n, q, depth, j0, cols, stage);
                        RowKernel<Float32Row>(x + q, stage, RowColumns, depth, sums);
                    }
                    else if (inPlace)
                        RowKernel<Float32Row>(x + q, b + (long)q * n + j0, n, depth, sums);
                    else
                    {
                        StageColumns(b, n, q, depth, j0, cols, stage);
                        RowKernel<Float32Row>(x + q, stage, RowColumns, depth, sums);
                    }
                }
            AccumulatePartial(sums, RowColumns, c + j0, 0, alpha, 1, cols, overwrite: false);
        }
    }

    /// <summary>
    /// <c>sums[j] = fma(x[p], rows[p·stride + j], sums[j])</c> for p ascending, j &lt; 128: the running sums live in 8
    /// registers for the whole chunk (storing and reloading them between chunks does not change a value). The rows hold
    /// float32 (<see cref="Float32Row"/>) or finite binary16 (<see cref="Half16Row"/>, widened exactly as they are read);
    /// <paramref name="stride"/> counts elements.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowKernel<TRow>(float* x, void* rows, int stride, int depth, float* sums) where TRow : IRowValues
    {
        Vector512<float> s0 = Vector512.Load(sums), s1 = Vector512.Load(sums + 16), s2 = Vector512.Load(sums + 32), s3 = Vector512.Load(sums + 48);
        Vector512<float> s4 = Vector512.Load(sums + 64), s5 = Vector512.Load(sums + 80), s6 = Vector512.Load(sums + 96), s7 = Vector512.Load(sums + 112);
        byte* row = (byte*)rows;
        long step = (long)stride * TRow.Bytes;
        for (int p = 0; p < depth; p++, row += step)
        {
            var xp = Vector512.Create(x[p]);
            s0 = Vector512.FusedMultiplyAdd(xp, TRow.Load(row, 0), s0);
            s1 = Vector512.FusedMultiplyAdd(xp, TRow.Load(row, 16), s1);
            s2 = Vector512.FusedMultiplyAdd(xp, TRow.Load(row, 32), s2);
            s3 = Vector512.FusedMultiplyAdd(xp, TRow.Load(row, 48), s3);
            s4 = Vector512.FusedMultiplyAdd(xp, TRow.Load(row, 64), s4);
            s5 = Vector512.FusedMultiplyAdd(xp, TRow.Load(row, 80), s5);
            s6 = Vector512.FusedMultiplyAdd(xp, TRow.Load(row, 96), s6);
            s7 = Vector512.FusedMultiplyAdd(xp, TRow.Load(row, 112), s7);
        }
        s0.Store(sums); s1.Store(sums + 16); s2.Store(sums + 32); s3.Store(sums + 48);
        s4.Store(sums + 64); s5.Store(sums + 80); s6.Store(sums + 96); s7.Store(sums + 112);
    }

    /// <summary>How <see cref="RowKernel{TRow}"/> reads sixteen values of a row as float32.</summary>
    private interface IRowValues
    {
        static abstract int Bytes { get; }
        static abstract Vector512<float> Load(byte* row, int index);
    }

    private readonly struct Float32Row : IRowValues
    {
        public static int Bytes => sizeof(float);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load(byte* row, int index) => Vector512.Load((float*)row + index);
    }

    private readonly struct Half16Row : IRowValues
    {
        public static int Bytes => sizeof(short);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load(byte* row, int index) => WidenFiniteHalf(Vector256.Load((short*)row + index));
    }

    /// <summary>
    /// The last, partial column group of a B stored [k×n], B[p0..p0+depth, j0..j0+cols], into <paramref name="stage"/> as
    /// rows of <see cref="RowColumns"/> (columns past <paramref name="cols"/> are zero).
    /// </summary>
    private static void StageColumns(float* b, int n, int p0, int depth, int j0, int cols, float* stage)
    {
        for (int p = 0; p < depth; p++)
        {
            float* target = stage + p * RowColumns;
            new ReadOnlySpan<float>(b + (long)(p0 + p) * n + j0, cols).CopyTo(new Span<float>(target, cols));
            new Span<float>(target + cols, RowColumns - cols).Clear();
        }
    }

    /// <summary>
    /// <c>sums[j] = fma(x[p], w[j·stride + p], sums[j])</c> for p &lt; depth ascending and j &lt; cols (at most 128), from
    /// sums of zero: the depth block of a B stored [n×k], whose rows are the outputs. Sixteen rows at a time, each 16×16
    /// block is transposed in registers and its sixteen columns go straight into the FMAs, in depth order; the depth tail
    /// and a last strip of fewer than 16 rows gather one column at a time. Staging the transposed blocks in L1 and running
    /// <see cref="RowKernel{TRow}"/> over them, as this path did before, stored and loaded every weight once more, in
    /// chunks of 64 steps: on two Zen 5 cores (a harness, three alternating runs of both builds, the same bytes) 256×256
    /// took 4.9–6.7 µs on one thread and now 4.3–4.5, 2048×2048 626–800 µs and now 432–457, on two threads 326–342 and
    /// now 189–212, 5632×2048 1,457–1,485 and now 872–977.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    private static void RowSums(float* x, float* w, int stride, int depth, int cols, float* sums)
    {
        float* column = stackalloc float[16];
        int blocked = depth / 16 * 16;
        for (int j = 0; j < cols; j += 16)
        {
            float* rows = w + (long)j * stride;
            int lanes = Math.Min(16, cols - j);
            var sum = Vector512<float>.Zero;
            int p = 0;
            if (lanes == 16)
                for (; p < blocked; p += 16)
                {
                    var block = new TimesX(x + p, sum);
                    Transpose16x16(rows + p, stride, ref block);
                    sum = block.Sum;
                }
            for (; p < depth; p++)
            {
                for (int lane = 0; lane < 16; lane++) column[lane] = lane < lanes ? rows[(long)lane * stride + p] : 0;
                sum = Vector512.FusedMultiplyAdd(Vector512.Create(x[p]), Vector512.Load(column), sum);
            }
            // j + 16 ≤ 128: lanes past cols land in sums that are never added to c.
            sum.Store(sums + j);
        }
    }

    /// <summary>
    /// The last, partial column group of a [k×n] binary16 B, widened into <paramref name="stage"/> as rows of
    /// <see cref="RowColumns"/> (columns past <paramref name="cols"/> are zero): whole runs of 16 with
    /// <see cref="WidenFiniteHalf"/>, the rest one by one.
    /// </summary>
    private static void StageHalfColumns(Half* b, int n, int p0, int depth, int j0, int cols, float* stage)
    {
        int whole = cols / 16 * 16;
        for (int p = 0; p < depth; p++)
        {
            Half* source = b + (long)(p0 + p) * n + j0;
            float* target = stage + p * RowColumns;
            int j = 0;
            for (; j < whole; j += 16) WidenFiniteHalf(Vector256.Load((short*)(source + j))).Store(target + j);
            for (; j < cols; j++) target[j] = (float)source[j];
            new Span<float>(target + cols, RowColumns - cols).Clear();
        }
    }

    /// <summary>
    /// Sixteen finite binary16 values as float32, exactly as <c>(float)Half</c>: sign-extended to 32 bits and shifted so
    /// the exponent and mantissa bits land in float32 position, the sign's copies above them masked away (the sign stays
    /// in bit 31), then multiplied by 2^112, which rebiases normal numbers and normalises subnormals exactly. Wrong for ±∞
    /// and NaN, whose all-ones exponent it would rebias too; <see cref="HalfColumns"/> holds no such value.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> WidenFiniteHalf(Vector256<short> bits)
    {
        var moved = (Avx512F.ConvertToVector512Int32(bits) << 13) & Vector512.Create(unchecked((int)0x8FFF_E000));
        return moved.AsSingle() * Vector512.Create(BitConverter.UInt32BitsToSingle(0x7780_0000u));
    }

    /// <summary>
    /// <c>target[p·targetStride + r] = source[r·sourceStride + p]</c> for r, p &lt; 16. Only moves values, so it cannot
    /// change a result.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Transpose16x16(float* source, int sourceStride, float* target, int targetStride)
    {
        var rows = new StoreRows(target, targetStride);
        Transpose16x16(source, sourceStride, ref rows);
    }

    /// <summary>
    /// Hands row p of the transpose of the 16×16 block at <paramref name="source"/> (<c>source[r·sourceStride + p]</c> for
    /// r &lt; 16) to <paramref name="rows"/>, p = 0 … 15 in order: four rounds of in-lane unpacks and shuffles, then 128-bit
    /// lane shuffles.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose16x16<TRows>(float* source, int sourceStride, ref TRows rows) where TRows : struct, ITransposedRows
    {
        float* s = source;
        Vector512<float> r0 = Vector512.Load(s), r1 = Vector512.Load(s += sourceStride), r2 = Vector512.Load(s += sourceStride), r3 = Vector512.Load(s += sourceStride);
        Vector512<float> r4 = Vector512.Load(s += sourceStride), r5 = Vector512.Load(s += sourceStride), r6 = Vector512.Load(s += sourceStride), r7 = Vector512.Load(s += sourceStride);
        Vector512<float> r8 = Vector512.Load(s += sourceStride), r9 = Vector512.Load(s += sourceStride), r10 = Vector512.Load(s += sourceStride), r11 = Vector512.Load(s += sourceStride);
        Vector512<float> r12 = Vector512.Load(s += sourceStride), r13 = Vector512.Load(s += sourceStride), r14 = Vector512.Load(s += sourceStride), r15 = Vector512.Load(s += sourceStride);

        // Rows (2i, 2i+1) interleaved: t holds pairs of rows per column.
        Vector512<float> t0 = Avx512F.UnpackLow(r0, r1), t1 = Avx512F.UnpackHigh(r0, r1), t2 = Avx512F.UnpackLow(r2, r3), t3 = Avx512F.UnpackHigh(r2, r3);
        Vector512<float> t4 = Avx512F.UnpackLow(r4, r5), t5 = Avx512F.UnpackHigh(r4, r5), t6 = Avx512F.UnpackLow(r6, r7), t7 = Avx512F.UnpackHigh(r6, r7);
        Vector512<float> t8 = Avx512F.UnpackLow(r8, r9), t9 = Avx512F.UnpackHigh(r8, r9), t10 = Avx512F.UnpackLow(r10, r11), t11 = Avx512F.UnpackHigh(r10, r11);
        Vector512<float> t12 = Avx512F.UnpackLow(r12, r13), t13 = Avx512F.UnpackHigh(r12, r13), t14 = Avx512F.UnpackLow(r14, r15), t15 = Avx512F.UnpackHigh(r14, r15);

        // Groups of four rows per column, within each 128-bit lane.
        r0 = Avx512F.Shuffle(t0, t2, 0x44); r1 = Avx512F.Shuffle(t0, t2, 0xEE); r2 = Avx512F.Shuffle(t1, t3, 0x44); r3 = Avx512F.Shuffle(t1, t3, 0xEE);
        r4 = Avx512F.Shuffle(t4, t6, 0x44); r5 = Avx512F.Shuffle(t4, t6, 0xEE); r6 = Avx512F.Shuffle(t5, t7, 0x44); r7 = Avx512F.Shuffle(t5, t7, 0xEE);
        r8 = Avx512F.Shuffle(t8, t10, 0x44); r9 = Avx512F.Shuffle(t8, t10, 0xEE); r10 = Avx512F.Shuffle(t9, t11, 0x44); r11 = Avx512F.Shuffle(t9, t11, 0xEE);
        r12 = Avx512F.Shuffle(t12, t14, 0x44); r13 = Avx512F.Shuffle(t12, t14, 0xEE); r14 = Avx512F.Shuffle(t13, t15, 0x44); r15 = Avx512F.Shuffle(t13, t15, 0xEE);

        // 128-bit lanes: first across row groups 0–3 / 4–7 and 8–11 / 12–15, then across the two halves.
        t0 = Avx512F.Shuffle4x128(r0, r4, 0x88); t1 = Avx512F.Shuffle4x128(r1, r5, 0x88); t2 = Avx512F.Shuffle4x128(r2, r6, 0x88); t3 = Avx512F.Shuffle4x128(r3, r7, 0x88);
        t4 = Avx512F.Shuffle4x128(r0, r4, 0xDD); t5 = Avx512F.Shuffle4x128(r1, r5, 0xDD); t6 = Avx512F.Shuffle4x128(r2, r6, 0xDD); t7 = Avx512F.Shuffle4x128(r3, r7, 0xDD);
        t8 = Avx512F.Shuffle4x128(r8, r12, 0x88); t9 = Avx512F.Shuffle4x128(r9, r13, 0x88); t10 = Avx512F.Shuffle4x128(r10, r14, 0x88); t11 = Avx512F.Shuffle4x128(r11, r15, 0x88);
        t12 = Avx512F.Shuffle4x128(r8, r12, 0xDD); t13 = Avx512F.Shuffle4x128(r9, r13, 0xDD); t14 = Avx512F.Shuffle4x128(r10, r14, 0xDD); t15 = Avx512F.Shuffle4x128(r11, r15, 0xDD);

        rows.Row(0, Avx512F.Shuffle4x128(t0, t8, 0x88));
        rows.Row(1, Avx512F.Shuffle4x128(t1, t9, 0x88));
        rows.Row(2, Avx512F.Shuffle4x128(t2, t10, 0x88));
        rows.Row(3, Avx512F.Shuffle4x128(t3, t11, 0x88));
        rows.Row(4, Avx512F.Shuffle4x128(t4, t12, 0x88));
        rows.Row(5, Avx512F.Shuffle4x128(t5, t13, 0x88));
        rows.Row(6, Avx512F.Shuffle4x128(t6, t14, 0x88));
        rows.Row(7, Avx512F.Shuffle4x128(t7, t15, 0x88));
        rows.Row(8, Avx512F.Shuffle4x128(t0, t8, 0xDD));
        rows.Row(9, Avx512F.Shuffle4x128(t1, t9, 0xDD));
        rows.Row(10, Avx512F.Shuffle4x128(t2, t10, 0xDD));
        rows.Row(11, Avx512F.Shuffle4x128(t3, t11, 0xDD));
        rows.Row(12, Avx512F.Shuffle4x128(t4, t12, 0xDD));
        rows.Row(13, Avx512F.Shuffle4x128(t5, t13, 0xDD));
        rows.Row(14, Avx512F.Shuffle4x128(t6, t14, 0xDD));
        rows.Row(15, Avx512F.Shuffle4x128(t7, t15, 0xDD));
    }

    /// <summary>What <see cref="Transpose16x16{TRows}"/> does with each row of the transposed block.</summary>
    private interface ITransposedRows
    {
        void Row(int p, Vector512<float> row);
    }

    /// <summary>Stores row p at <c>target + p·stride</c>.</summary>
    private readonly struct StoreRows(float* target, int stride) : ITransposedRows
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Row(int p, Vector512<float> row) => row.Store(target + (long)p * stride);
    }

    /// <summary><c>Sum = fma(x[p], row p, Sum)</c>: a block of a matrix-vector product, summed in depth order.</summary>
    private struct TimesX(float* x, Vector512<float> sum) : ITransposedRows
    {
        public Vector512<float> Sum = sum;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Row(int p, Vector512<float> row) => Sum = Vector512.FusedMultiplyAdd(Vector512.Create(x[p]), row, Sum);
    }

    /// <summary>C = beta·C, with beta = 0 clearing C (so NaN or garbage in C does not survive), as BLAS does.</summary>
    internal static void ScaleC(Span<float> c, float beta)
    {
        if (beta == 0) c.Clear();
        else if (beta != 1) TensorPrimitives.Multiply(c, beta, c);
    }

    /// <summary>
    /// Whether the kernels read a B stored [k×n] in place (each strip's depth steps n floats apart) instead of packing
    /// it: where it is already a strip (n = nr), or where packing costs more than the kernels' reads of a strided
    /// source save, i.e. few rows of A share each packed strip. Measured on two Zen 5 cores (a harness, best of 10,
    /// both ways alternating, the same bytes): in place TN 256×256×4096 16 % faster, 256×128×4096 14 %, NN 256×64×256
    /// 25 %, NN 2048×32×256 1–7 %; slower from m = 768 (TN 768×256×4096 −4 to −8 %, TN 2048×256×4096 −7 to −9 %)
    /// and from n = 512 (TN 512×512×4096 −4 %, TN 1024×1024×2048 −38 %, rows 4 KB apart sharing too few cache sets).
    /// </summary>
    private static bool ReadsBInPlace(int m, int n, bool transposeB, int nr) =>
        !transposeB && n % nr == 0 && (n == nr || (n <= InPlaceBMaxColumns && m <= InPlaceBMaxRows));

    [SkipLocalsInit]
    private void ComputeBlock(float* a, bool transposeA, int m, int k, int p0, int kc, int firstRowPanel, int lastRowPanel,
        float* bBlock, long bStripStride, int bStepStride, int firstColPanel, int lastColPanel, int n, float* c, float alpha,
        bool overwrite, CausalSkip skip, int visibleOffset)
    {
        int nr = _panelCols;
        float* tile = stackalloc float[2 * PanelRows * 32];
        int panels = lastRowPanel - firstRowPanel;
        float[] packedA = ArrayPool<float>.Shared.Rent(panels * PanelRows * kc);
        try
        {
            fixed (float* pa = packedA)
            {
                // A transposed A's whole panels are packed together; a stored [m×k] A's are read in place, six rows at a
                // time (packing them was 8–9 % of the forward's samples, and the forward's products ran 5–15 % faster
                // without it). Only a block's last panel can be partial, and it is packed with zeros past m.
                if (transposeA) PackTransposedPanels(a, m, p0, kc, firstRowPanel * PanelRows, panels, pa);
                int lastI0 = (lastRowPanel - 1) * PanelRows;
                if (lastI0 + PanelRows > m)
                    PackPartialPanel(a, transposeA, m, k, p0, PanelDepth(skip, visibleOffset, lastI0, m, p0, kc), lastI0, pa + (long)(panels - 1) * PanelRows * kc);
                for (int jp = firstColPanel; jp < lastColPanel; jp++)
                {
                    int j0 = jp * nr, cols = Math.Min(nr, n - j0);
                    float* bPanel = bBlock + jp * bStripStride;
                    for (int ip = 0; ip < panels; ip++)
                    {
                        int i0 = (firstRowPanel + ip) * PanelRows, rows = Math.Min(PanelRows, m - i0);
                        if (skip == CausalSkip.MaskedColumns && j0 > visibleOffset + i0 + rows - 1) continue;
                        int depth = PanelDepth(skip, visibleOffset, i0, m, p0, kc);
                        bool direct = !transposeA && rows == PanelRows;
                        float* aPanel = direct ? a + (long)i0 * k + p0 : pa + (long)ip * PanelRows * kc;
                        int rowStride = direct ? k : 1, stepStride = direct ? 1 : PanelRows;
                        float* cTile = c + (long)i0 * n + j0;
                        if (_wide && transposeA && skip == CausalSkip.None && ip + 1 < panels)
                        {
                            int rows2 = Math.Min(PanelRows, m - i0 - PanelRows);
                            Sums12x32(depth, aPanel, aPanel + PanelRows * kc, bPanel, bStepStride, tile);
                            AccumulateTile(tile, nr, cTile, n, alpha, rows, cols, overwrite);
                            AccumulateTile(tile + PanelRows * 32, nr, cTile + (long)PanelRows * n, n, alpha, rows2, cols, overwrite);
                            ip++;
                            continue;
                        }
                        if (_wide) Sums6x32(depth, aPanel, rowStride, stepStride, bPanel, bStepStride, tile);
                        else Sums6x16(depth, aPanel, rowStride, stepStride, bPanel, bStepStride, tile);
                        AccumulateTile(tile, nr, cTile, n, alpha, rows, cols, overwrite);
                    }
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(packedA);
        }
    }

    /// <summary>
    /// Depth steps of the block at <paramref name="p0"/> that the row panel at <paramref name="i0"/> sums: all
    /// <paramref name="kc"/>, or with <see cref="CausalSkip.MaskedDepth"/> those up to its last row's last visible position.
    /// </summary>
    private static int PanelDepth(CausalSkip skip, int visibleOffset, int i0, int m, int p0, int kc) =>
        skip == CausalSkip.MaskedDepth ? Math.Clamp(visibleOffset + Math.Min(m, i0 + PanelRows) - p0, 0, kc) : kc;

    /// <summary>
    /// Packs the last, partial row panel op(A)[i0..m, p0..p0+kc] (fewer than six rows) as kc groups of 6, rows past m zero.
    /// </summary>
    private static void PackPartialPanel(float* a, bool transposeA, int m, int k, int p0, int kc, int i0, float* destination)
    {
        new Span<float>(destination, PanelRows * kc).Clear();
        // op(A)[i0 + r, p0 + p] = source[p·depthStride + r·rowStride], A being [m×k], or [k×m] when transposed.
        float* source = a + (transposeA ? (long)p0 * m + i0 : (long)i0 * k + p0);
        long depthStride = transposeA ? m : 1, rowStride = transposeA ? 1 : k;
        for (int p = 0; p < kc; p++)
            for (int r = 0; r < m - i0; r++)
                destination[p * PanelRows + r] = source[p * depthStride + r * rowStride];
    }

    /// <summary>
    /// Packs the whole row panels of a transposed A (stored [k×m]) from row <paramref name="i0"/> on, at most
    /// <paramref name="panels"/>, for the depth block at <paramref name="p0"/>: panel i at <c>destination + i·6·kc</c> as kc
    /// groups of 6. Each depth step's row is read once, in order, and 16 steps ahead is prefetched (a prefetch past the end
    /// of A never faults): packing panel by panel read the same rows six floats at a time from 1 KB apart, and was 10–12 %
    /// of a 256-feature Gram's samples against 8 % now.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackTransposedPanels(float* a, int m, int p0, int kc, int i0, int panels, float* destination)
    {
        int whole = Math.Min(panels, (m - i0) / PanelRows);
        for (int p = 0; p < kc; p++)
        {
            float* row = a + (long)(p0 + p) * m + i0, target = destination + p * PanelRows;
            if (Sse.IsSupported)
                for (int f = 0; f < whole * PanelRows; f += 16) Sse.Prefetch0(row + 16L * m + f);
            for (int panel = 0; panel < whole; panel++, row += PanelRows, target += PanelRows * kc)
            {
                Vector128.Store(Vector128.Load(row), target);
                *(ulong*)(target + 4) = *(ulong*)(row + 4);
            }
        }
    }

    /// <summary>
    /// Packs op(B)[p0..p0+kc, j0..j0+nr] of a B stored [n×k] (op(B)[p, j] = b[j·k + p]) as kc rows of nr, columns past n
    /// zero: whole 16×16 blocks by register transposes, the rest one by one.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackTransposedStrip(float* b, int n, int k, int p0, int kc, int j0, int nr, float* destination)
    {
        int cols = Math.Min(nr, n - j0);
        if (cols < nr) new Span<float>(destination, nr * kc).Clear();
        int blocked = Avx512F.IsSupported && cols == nr ? kc / 16 * 16 : 0;
        for (int p = 0; p < blocked; p += 16)
            for (int j = 0; j < nr; j += 16)
                Transpose16x16(b + (long)(j0 + j) * k + p0 + p, k, destination + p * nr + j, nr);
        for (int j = 0; j < cols; j++)
        {
            float* source = b + (long)(j0 + j) * k + p0;
            for (int p = blocked; p < kc; p++) destination[p * nr + j] = source[p];
        }
    }

    /// <summary>
    /// Packs <paramref name="steps"/> depth steps from <paramref name="p"/> on of a B stored [k×n] into every strip of
    /// a depth block (strip s at <c>destination + s·nr·kc</c>, a step's row at <c>+ step·nr</c>; columns past n zero),
    /// reading each row of B once, in order.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackDepthSteps(float* b, int n, int p, int steps, int nr, int kc, float* destination)
    {
        for (int step = 0; step < steps; step++)
        {
            float* row = b + (long)(p + step) * n;
            for (int j0 = 0; j0 < n; j0 += nr)
            {
                float* target = destination + (long)j0 * kc + step * nr;
                int cols = Math.Min(nr, n - j0);
                // A whole strip row as vector copies: a span copy per row (one call per 128 bytes) made the 256-feature
                // Gram 3–8 % slower, alternating in one harness.
                if (cols == nr)
                    for (int j = 0; j < nr; j += 8) Vector256.Store(Vector256.Load(row + j0 + j), target + j);
                else
                {
                    new ReadOnlySpan<float>(row + j0, cols).CopyTo(new Span<float>(target, cols));
                    new Span<float>(target + cols, nr - cols).Clear();
                }
            }
        }
    }

    /// <summary>
    /// The sums of a 6×32 tile over one depth block (<c>s = fma(a[r·rowStride + p·stepStride], b[p·bStride + j], s)</c>, p
    /// ascending; a packed panel has strides 1 and 6, rows read in place k and 1; a packed strip of B has bStride 32, B
    /// read in place n), stored to <paramref name="sums"/> as 6 rows
    /// of 32. The sums leave the registers here instead of being added to C in the same
    /// method: with the accumulation (and its call for edge tiles) after the loop, the JIT without profile data
    /// (TieredPGO or TieredCompilation off) stored every accumulator to the stack after each FMA, and the forward ran 3×
    /// slower.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Sums6x32(int kc, float* a, int rowStride, int stepStride, float* b, int bStride, float* sums)
    {
        float* a0 = a, a1 = a + rowStride, a2 = a + 2L * rowStride, a3 = a + 3L * rowStride, a4 = a + 4L * rowStride, a5 = a + 5L * rowStride;
        long q = 0;
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector512<float> b0 = Vector512.Load(b), b1 = Vector512.Load(b + 16);
            Vector512<float> x = Vector512.Create(a0[q]);
            c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a1[q]);
            c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a2[q]);
            c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a3[q]);
            c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a4[q]);
            c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a5[q]);
            c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
            q += stepStride;
            b += bStride;
        }
        c00.Store(sums); c01.Store(sums + 16); c10.Store(sums + 32); c11.Store(sums + 48);
        c20.Store(sums + 64); c21.Store(sums + 80); c30.Store(sums + 96); c31.Store(sums + 112);
        c40.Store(sums + 128); c41.Store(sums + 144); c50.Store(sums + 160); c51.Store(sums + 176);
    }

    /// <summary>
    /// <see cref="Sums6x32"/> for two packed row panels at once (<paramref name="a"/> and <paramref name="a2"/>, strides 1
    /// and 6), a 12×32 tile stored as 12 rows of 32: 24 accumulators of AVX-512's 32 registers instead of 12, so each
    /// depth step's two vectors of B feed twice the FMAs. The same FMAs in the same order as two calls of
    /// <see cref="Sums6x32"/>. Used for a transposed A (the Grams), whose B read in place comes from L2: TN 256×256×4096
    /// 281–299 → 319–338 GFLOP/s (two Zen 5 cores, a harness alternating both kernels); a stored A, read in place by
    /// twelve row pointers, ran within the noise of the six-row kernel.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Sums12x32(int kc, float* a, float* a2, float* b, int bStride, float* sums)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default, c80 = default, c81 = default;
        Vector512<float> c90 = default, c91 = default, cA0 = default, cA1 = default, cB0 = default, cB1 = default;
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
            x = Vector512.Create(a2[0]);
            c60 = Vector512.FusedMultiplyAdd(x, b0, c60); c61 = Vector512.FusedMultiplyAdd(x, b1, c61);
            x = Vector512.Create(a2[1]);
            c70 = Vector512.FusedMultiplyAdd(x, b0, c70); c71 = Vector512.FusedMultiplyAdd(x, b1, c71);
            x = Vector512.Create(a2[2]);
            c80 = Vector512.FusedMultiplyAdd(x, b0, c80); c81 = Vector512.FusedMultiplyAdd(x, b1, c81);
            x = Vector512.Create(a2[3]);
            c90 = Vector512.FusedMultiplyAdd(x, b0, c90); c91 = Vector512.FusedMultiplyAdd(x, b1, c91);
            x = Vector512.Create(a2[4]);
            cA0 = Vector512.FusedMultiplyAdd(x, b0, cA0); cA1 = Vector512.FusedMultiplyAdd(x, b1, cA1);
            x = Vector512.Create(a2[5]);
            cB0 = Vector512.FusedMultiplyAdd(x, b0, cB0); cB1 = Vector512.FusedMultiplyAdd(x, b1, cB1);
            a += PanelRows;
            a2 += PanelRows;
            b += bStride;
        }
        c00.Store(sums); c01.Store(sums + 16); c10.Store(sums + 32); c11.Store(sums + 48);
        c20.Store(sums + 64); c21.Store(sums + 80); c30.Store(sums + 96); c31.Store(sums + 112);
        c40.Store(sums + 128); c41.Store(sums + 144); c50.Store(sums + 160); c51.Store(sums + 176);
        c60.Store(sums + 192); c61.Store(sums + 208); c70.Store(sums + 224); c71.Store(sums + 240);
        c80.Store(sums + 256); c81.Store(sums + 272); c90.Store(sums + 288); c91.Store(sums + 304);
        cA0.Store(sums + 320); cA1.Store(sums + 336); cB0.Store(sums + 352); cB1.Store(sums + 368);
    }

    /// <summary><see cref="Sums6x32"/> with Vector256: a 6×16 tile, stored as 6 rows of 16.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Sums6x16(int kc, float* a, int rowStride, int stepStride, float* b, int bStride, float* sums)
    {
        float* a0 = a, a1 = a + rowStride, a2 = a + 2L * rowStride, a3 = a + 3L * rowStride, a4 = a + 4L * rowStride, a5 = a + 5L * rowStride;
        long q = 0;
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector256<float> b0 = Vector256.Load(b), b1 = Vector256.Load(b + 8);
            Vector256<float> x = Vector256.Create(a0[q]);
            c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
            x = Vector256.Create(a1[q]);
            c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
            x = Vector256.Create(a2[q]);
            c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
            x = Vector256.Create(a3[q]);
            c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
            x = Vector256.Create(a4[q]);
            c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
            x = Vector256.Create(a5[q]);
            c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
            q += stepStride;
            b += bStride;
        }
        c00.Store(sums); c01.Store(sums + 8); c10.Store(sums + 16); c11.Store(sums + 24);
        c20.Store(sums + 32); c21.Store(sums + 40); c30.Store(sums + 48); c31.Store(sums + 56);
        c40.Store(sums + 64); c41.Store(sums + 72); c50.Store(sums + 80); c51.Store(sums + 88);
    }

    /// <summary>
    /// <c>C[r, j] = fma(sums[r·stride + j], alpha, C[r, j])</c> (C = +0 when overwriting) for a tile of rows × cols; whole
    /// rows of a full-width tile with vectors, whose element-wise FMA rounds as the scalar one does. Compiled optimized
    /// from its first call, as the kernels are, so that the first products of a process do not run it unoptimized.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AccumulateTile(float* sums, int stride, float* c, int ldc, float alpha, int rows, int cols, bool overwrite)
    {
        if (cols < stride)
        {
            AccumulatePartial(sums, stride, c, ldc, alpha, rows, cols, overwrite);
            return;
        }
        var scale = Vector256.Create(alpha);
        for (int r = 0; r < rows; r++, sums += stride, c += ldc)
            for (int j = 0; j < stride; j += 8)
                Vector256.FusedMultiplyAdd(Vector256.Load(sums + j), scale, overwrite ? Vector256<float>.Zero : Vector256.Load(c + j)).Store(c + j);
    }

    /// <summary>Edge tiles: the same single-rounding c + alpha·sum as the vector path (c = +0 when overwriting), so edges match interiors.</summary>
    private static void AccumulatePartial(float* tile, int tileStride, float* c, int ldc, float alpha, int rows, int cols, bool overwrite)
    {
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++)
                c[(long)r * ldc + j] = MathF.FusedMultiplyAdd(tile[r * tileStride + j], alpha, overwrite ? 0f : c[(long)r * ldc + j]);
    }
}

/// <summary>What a causal attention product may skip (<see cref="ManagedGemm"/>'s internal causal MatMul).</summary>
internal enum CausalSkip
{
    /// <summary>Nothing: the full product.</summary>
    None,
    /// <summary>Tiles of C past every row's last visible column (scores QKᵀ).</summary>
    MaskedColumns,
    /// <summary>Depth steps past each row panel's last visible one (probabilities times V, zero there).</summary>
    MaskedDepth,
}
