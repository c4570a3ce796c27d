using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LlmFp4.Kit.Formats;

namespace LlmFp4.Kit.Calibration;

/// <summary>
/// Weight candidates of one format scored through the places where a row's quantized codes change from one candidate to
/// the next, instead of one [out × in]·[in × in] product per candidate (<see cref="GramScorer.WeightPhase"/> picks it where
/// that pays, see <see cref="Pays"/>). Candidate c quantizes row w to q = s_c·a_c, a scale times codes a_c on the format's
/// bias-0 grid; the γ grid moves every row's bias one way, so each code walks monotonically across the grid and changes
/// at most (grid values − 1) times over all candidates: a few percent of the codes per step at 4 bits.
/// </summary>
/// <remarks>
/// <para>With H = X̂ᵀX̂, K = X̂ᵀΔ + ΔᵀΔ (<see cref="GramScorer"/>) and d = s·a − w, a row's output error
/// ‖Δw‖² + 2 d·(K w) + dᵀH d is C + 2 s·(a·v) + s²·(aᵀH a) with v = K w − H w and C = ‖Δw‖² + wᵀH w − 2 w·(K w), both fixed
/// for the phase. aᵀH a = Σ_t a_t·(2·g_t + H_tt·a_t) with g_t = Σ_(i&lt;t) H_it·a_i, and g is kept up to date across the
/// candidates: a code of input i that changes by δ adds δ·H_it to the g_t of the inputs after i only (half of a row of H
/// on average), and each candidate's sum over t is taken afresh, so it does not depend on the path of candidates that
/// led to a. g is kept for a tile of columns at a time: the tile's part of H stays in L2 while every row of a block of
/// rows walks all its steps through it.</para>
/// <para>The terms are of the size of the output, not of its error, so they cancel: every sum is in double, products of a
/// float Gram entry and a code difference or a weight are exact in double, and v and C come from products in double too.
/// The errors are those of the exact s·a; the quantizer stores s·a rounded to float32, which the dense product scores
/// instead (a difference of the order of float32 rounding, as is that product's own). The sums run in fixed orders
/// (<see cref="ActivationSweep.AddRows"/> is width-independent), so the errors do not depend on the thread count or the
/// vector width.</para>
/// </remarks>
internal sealed class WeightCodeSweep
{
    /// <summary>Rows whose change lists are built together and then walked tile by tile through the same Gram columns.</summary>
    private const int BlockRows = 16;

    /// <summary>
    /// Columns per tile: <see cref="ActivationSweep.AddRows"/> holds 64 doubles in eight registers. A tile's rows of the
    /// Gram (in × 64 floats) stay in L2 for a block of rows up to 2048 inputs; a wider input's outgrow it, but fitting them
    /// into 512 KB left 16 columns (down_proj at 5632 inputs), whose additions wait on two FMA chains: 64 columns swept
    /// 256 rows × 5632 at k = 100 1.7× faster (11.7–12.5 → 6.7–7.4 s, three formats).
    /// </summary>
    internal const int TileWidth = 64;

    /// <summary>
    /// Candidates per possible code change at which the sweep is cheaper than the dense products: a change costs a
    /// double-precision row of the Gram where a dense candidate costs a float32 GEMM row at several times the speed.
    /// </summary>
    internal const int CandidatesPerChange = 4;

    private readonly float[] _weight;
    private readonly double[] _rowConstant;
    private readonly float[] _gramTiles;        // H (its upper triangle mirrored), column tile by column tile
    private readonly float[]? _crossTiles;      // Kᵀ, column tile by column tile; null when the input is not quantized
    private readonly float[] _upperTiles;       // H's strict upper triangle, column tile by column tile (see the constructor)
    private readonly int[] _upperTileStarts;
    private readonly double[] _diagonal;        // H_tt
    private readonly int[] _everyColumn;
    private readonly int _rows, _cols;

    /// <summary>
    /// Whole tiles go through <see cref="SweepRowThroughTile"/>, g in registers across a row's candidates (AVX-512), or
    /// else through one <see cref="ActivationSweep.AddRows"/> and <see cref="TileQuadratic"/> per candidate, the plain
    /// twin the tests hold it to: the same sums in the same order, so the same bytes.
    /// </summary>
    internal bool RegisterTiles { get; init; } = Avx512F.IsSupported;

    /// <summary>
    /// Prepares the sweep of [<paramref name="rows"/> × <paramref name="cols"/>] <paramref name="weight"/> against
    /// quantized-input Gram <paramref name="gram"/> = X̂ᵀX̂ ([in × in]), cross Gram <paramref name="crossGram"/> = X̂ᵀΔ
    /// (null: the input is not quantized) and <paramref name="rowConstant"/>[r] = ‖Δ w_r‖².
    /// </summary>
    public WeightCodeSweep(float[] weight, int rows, int cols, float[] gram, float[]? crossGram, double[] rowConstant)
    {
        _weight = weight;
        _rows = rows;
        _cols = cols;
        _rowConstant = rowConstant;
        // H's upper triangle for both halves: a float32 Gram is symmetric only up to rounding, and v and aᵀH a below use
        // its two halves in different ways, so H is taken as its upper triangle mirrored throughout.
        _gramTiles = Tiles(gram, upperTriangle: true);
        // K w = Σ_j w_j K[:, j]: K's columns as rows, so that a weight j adds one contiguous row like a code change does.
        _crossTiles = crossGram is null ? null : Tiles(crossGram, transpose: true);
        _everyColumn = [.. Enumerable.Range(0, cols)];
        // The tile of columns t0 … t0 + width holds rows i < t0 + width of them, H_it where i < t and zero elsewhere:
        // [(t0 + width) × width], one tile after the other.
        _diagonal = new double[cols];
        for (int t = 0; t < cols; t++) _diagonal[t] = gram[t * cols + t];
        _upperTileStarts = new int[(cols + TileWidth - 1) / TileWidth];
        long size = 0;
        for (int t0 = 0, tile = 0; t0 < cols; t0 += TileWidth, tile++)
        {
            _upperTileStarts[tile] = (int)size;
            size += (long)(t0 + Math.Min(TileWidth, cols - t0)) * Math.Min(TileWidth, cols - t0);
        }
        _upperTiles = new float[size];
        for (int t0 = 0, tile = 0; t0 < cols; t0 += TileWidth, tile++)
        {
            int width = Math.Min(TileWidth, cols - t0);
            var upper = _upperTiles.AsSpan(_upperTileStarts[tile], (t0 + width) * width);
            for (int i = 0; i < t0 + width; i++)
                for (int t = 0; t < width; t++)
                    upper[i * width + t] = i < t0 + t ? _gramTiles[t0 * cols + i * width + t] : 0f;
        }
    }

    /// <summary>
    /// The [in × in] <paramref name="matrix"/> (its transpose, or its upper triangle mirrored) as its column tiles, one
    /// after the other, each [in × tile width] and contiguous, so that a tile's rows lie together in the cache rather than
    /// in floats apart.
    /// </summary>
    private float[] Tiles(float[] matrix, bool transpose = false, bool upperTriangle = false)
    {
        int n = _cols;
        var tiles = new float[n * n];
        for (int t0 = 0; t0 < n; t0 += TileWidth)
        {
            int width = Math.Min(TileWidth, n - t0);
            var tile = tiles.AsSpan(t0 * n, n * width);
            for (int j = 0; j < n; j++)
                for (int t = 0; t < width; t++)
                {
                    int i = t0 + t;
                    tile[j * width + t] = transpose || (upperTriangle && j > i) ? matrix[i * n + j] : matrix[j * n + i];
                }
        }
        return tiles;
    }

    /// <summary>
    /// True when sweeping <paramref name="candidates"/> candidates of <paramref name="format"/> costs less than their dense
    /// products: every code changes at most once per grid value, so a row has at most in·(grid values − 1) changes.
    /// </summary>
    public static bool Pays(FpFormat format, int candidates) =>
        CandidatesPerChange * Math.Min(candidates, (1L << (format.ExponentBits + format.MantissaBits)) - 1) <= candidates;

    /// <summary>
    /// Σ over tokens of (O − Ô)² per output row into <paramref name="rowErrors"/>[format][candidate][row], for the weight
    /// quantized with each of <paramref name="formats"/> at each candidate's per-row scales,
    /// <paramref name="scales"/>[format][candidate] (quantizer scales, best in the grid's order: the changes are counted
    /// from one candidate to the next). The formats go together so that v is computed once per block of rows.
    /// </summary>
    public void RowErrors(IReadOnlyList<FpFormat> formats, IReadOnlyList<IReadOnlyList<float[]>> scales, double[][][] rowErrors)
    {
        if (scales.Count != formats.Count || rowErrors.Length < formats.Count
            || Enumerable.Range(0, formats.Count).Any(f => rowErrors[f].Length < scales[f].Count || scales[f].Any(s => s.Length != _rows)))
            throw new ArgumentException($"RowErrors: per format, {_rows} scales per candidate and one row-error array per candidate.");
        Parallel.For(0, (_rows + BlockRows - 1) / BlockRows, () => new Workspace(_cols), (block, _, w) =>
        {
            int first = block * BlockRows, count = Math.Min(BlockRows, _rows - first);
            Linear(w, first, count);
            for (int f = 0; f < formats.Count; f++)
                SweepBlock(w, formats[f], scales[f], rowErrors[f], first, count);
            return w;
        }, _ => { });
    }

    /// <summary>Scratch of one thread, reused from block to block.</summary>
    private sealed class Workspace(int cols)
    {
        public readonly double[] Weights = new double[BlockRows * cols], Products = new double[BlockRows * cols];
        public readonly double[] V = new double[BlockRows * cols];  // K w, then v = K w − H w
        public readonly double[] Constant = new double[BlockRows];
        public int[] Channels = new int[4 * cols];
        public double[] Changes = new double[4 * cols];
        public float[] Units = new float[cols], Previous = new float[cols];
        public readonly float[] Divisors = new float[cols], Ones = Enumerable.Repeat(1f, cols).ToArray();
        public readonly double[] Sums = new double[TileWidth], Codes = new double[TileWidth];
        public int[] Ends = [], Cursors = [];
        public double[] LinearTerms = [], GridScales = [], Quadratics = [];

        /// <summary>Per-step arrays for <paramref name="steps"/> steps (rows × candidates), cleared where they accumulate.</summary>
        public void EnsureSteps(int steps)
        {
            if (Ends.Length < steps)
            {
                Ends = new int[steps];
                Cursors = new int[steps];
                LinearTerms = new double[steps];
                GridScales = new double[steps];
                Quadratics = new double[steps];
            }
            Array.Clear(Quadratics, 0, steps);
        }
    }

    /// <summary>v = K w − H w of the block's rows into <see cref="Workspace.V"/> (K w first) and C into <see cref="Workspace.Constant"/>.</summary>
    private void Linear(Workspace w, int first, int count)
    {
        int cols = _cols;
        for (int i = 0; i < count * cols; i++) w.Weights[i] = _weight[first * cols + i];
        Array.Clear(w.V, 0, count * cols);
        Array.Clear(w.Products, 0, count * cols);
        for (int t0 = 0; t0 < cols; t0 += TileWidth)
        {
            int width = Math.Min(TileWidth, cols - t0);
            for (int r = 0; r < count; r++)
            {
                var weights = w.Weights.AsSpan(r * cols, cols);
                if (_crossTiles is not null)
                    ActivationSweep.AddRows(weights, _everyColumn, _crossTiles.AsSpan(t0 * cols, cols * width), width, w.V.AsSpan(r * cols + t0, width));
                ActivationSweep.AddRows(weights, _everyColumn, _gramTiles.AsSpan(t0 * cols, cols * width), width, w.Products.AsSpan(r * cols + t0, width));
            }
        }
        for (int r = 0; r < count; r++)
        {
            double constant = _rowConstant[first + r];
            for (int j = r * cols; j < (r + 1) * cols; j++)
            {
                double wj = w.Weights[j], kw = w.V[j], hw = w.Products[j];
                w.V[j] = kw - hw;
                constant = Math.FusedMultiplyAdd(wj, hw - 2 * kw, constant);
            }
            w.Constant[r] = constant;
        }
    }

    private void SweepBlock(Workspace w, FpFormat format, IReadOnlyList<float[]> scales, double[][] rowErrors, int first, int count)
    {
        int cols = _cols, candidates = scales.Count;
        w.EnsureSteps(count * candidates);
        var ends = w.Ends;              // end of each (row, candidate) step's changes
        var linear = w.LinearTerms;     // a·v
        var gridScales = w.GridScales;  // s
        int total = 0;
        for (int r = 0; r < count; r++)
        {
            Array.Clear(w.Previous);
            var weights = _weight.AsSpan((first + r) * cols, cols);
            var v = w.V.AsSpan(r * cols, cols);
            double av = 0;
            for (int c = 0; c < candidates; c++)
            {
                float gridScale = format.GridScale(scales[c][first + r]);
                Array.Fill(w.Divisors, FakeQuant.Divisor(gridScale));
                if (w.Channels.Length < total + cols)
                {
                    Array.Resize(ref w.Channels, 2 * (total + cols));
                    Array.Resize(ref w.Changes, 2 * (total + cols));
                }
                ActivationSweep.Round(format, weights, w.Divisors, w.Ones, w.Units, w.Previous);
                int listed = ActivationSweep.ListChanged(w.Units, w.Previous, w.Channels.AsSpan(total), w.Changes.AsSpan(total));
                for (int k = total; k < total + listed; k++) av = Math.FusedMultiplyAdd(w.Changes[k], v[w.Channels[k]], av);
                total += listed;
                int step = r * candidates + c;
                ends[step] = total;
                linear[step] = av;
                gridScales[step] = gridScale;
                (w.Units, w.Previous) = (w.Previous, w.Units);
            }
        }
        var channels = w.Channels;
        var changes = w.Changes;

        // aᵀH a of every step, tile by tile: the tile's Σ_t a_t·(2·g_t + H_tt·a_t) with g_t = Σ_(i<t) H_it·a_i, summed in
        // column order. A change at input i reaches only the columns after it, so a tile takes each step's changes below
        // its end (the lists ascend) and its rows of H stop there too.
        var quadratics = w.Quadratics;
        var cursors = w.Cursors;
        cursors[0] = 0;
        for (int step = 1; step < count * candidates; step++) cursors[step] = ends[step - 1];
        var g = w.Sums;
        var codes = w.Codes;
        for (int t0 = 0, tile = 0; t0 < cols; t0 += TileWidth, tile++)
        {
            int width = Math.Min(TileWidth, cols - t0), tileEnd = t0 + width;
            var sums = g.AsSpan(0, width);
            var a = codes.AsSpan(0, width);
            var upper = _upperTiles.AsSpan(_upperTileStarts[tile], tileEnd * width);
            var diagonal = _diagonal.AsSpan(t0, width);
            for (int r = 0; r < count; r++)
            {
                if (RegisterTiles && width == TileWidth)
                {
                    SweepRowThroughTile(channels, changes, ends, cursors, r * candidates, candidates, upper, t0, diagonal, a, quadratics);
                    continue;
                }
                sums.Clear();
                a.Clear();
                double partial = 0;
                for (int c = 0; c < candidates; c++)
                {
                    int step = r * candidates + c;
                    var (begin, lo, below) = ChangesBelow(channels, ends, cursors, step, tileEnd);
                    if (below > begin)
                    {
                        ActivationSweep.AddRows(changes.AsSpan(begin, below - begin), channels.AsSpan(begin, below - begin), upper, width, sums);
                        for (int k = lo; k < below; k++) a[channels[k] - t0] += changes[k];
                        partial = TileQuadratic(a, sums, diagonal);
                    }
                    quadratics[step] += partial;
                }
            }
        }

        for (int r = 0; r < count; r++)
        {
            double constant = w.Constant[r];
            for (int c = 0; c < candidates; c++)
            {
                int step = r * candidates + c;
                double s = gridScales[step];
                rowErrors[c][first + r] = constant + s * (2 * linear[step] + s * quadratics[step]);
            }
        }
    }

    /// <summary>
    /// One row's steps (<paramref name="firstStep"/> on, one per candidate) through a whole tile of <see cref="TileWidth"/>
    /// columns from <paramref name="t0"/>: each step's changes below the tile's end added to g as
    /// <see cref="ActivationSweep.AddRows"/> adds them, the codes <paramref name="a"/> of the tile updated, and the tile's
    /// <see cref="TileQuadratic"/> added to the step's quadratic, with the same FMAs in the same order. g stays in eight
    /// registers across the candidates, where a call of each per candidate loaded and stored it, checked its rows and set up
    /// its spans for a few dozen changes (a step's changes below an early tile's end are a handful).
    /// </summary>
    private static void SweepRowThroughTile(int[] channels, double[] changes, int[] ends, int[] cursors, int firstStep, int candidates,
        ReadOnlySpan<float> upper, int t0, ReadOnlySpan<double> diagonal, Span<double> a, double[] quadratics)
    {
        int tileEnd = t0 + TileWidth;
        if (upper.Length < tileEnd * TileWidth || diagonal.Length < TileWidth || a.Length < TileWidth)
            throw new ArgumentException("SweepRowThroughTile: the tile holds its columns' rows up to its end.");
        a[..TileWidth].Clear();
        ref float source = ref MemoryMarshal.GetReference(upper);
        ref double codes = ref MemoryMarshal.GetReference(a);
        ref double h = ref MemoryMarshal.GetReference(diagonal);
        Vector512<double> g0 = default, g1 = default, g2 = default, g3 = default, g4 = default, g5 = default, g6 = default, g7 = default;
        double partial = 0;
        for (int c = 0; c < candidates; c++)
        {
            int step = firstStep + c;
            var (begin, lo, below) = ChangesBelow(channels, ends, cursors, step, tileEnd);
            if (below > begin)
            {
                for (int m = begin; m < below; m++)
                {
                    int channel = channels[m];
                    if ((uint)channel >= (uint)tileEnd) throw new ArgumentOutOfRangeException(nameof(channels), $"SweepRowThroughTile: channel {channel} is past the tile's end.");
                    var factor = Vector512.Create(changes[m]);
                    ref float row = ref Unsafe.Add(ref source, (nuint)channel * TileWidth);
                    if (m + ActivationSweep.PrefetchAhead < below)
                        ActivationSweep.Prefetch(ref Unsafe.Add(ref source, (nuint)channels[m + ActivationSweep.PrefetchAhead] * TileWidth));
                    g0 = Vector512.FusedMultiplyAdd(factor, ActivationSweep.Widen(ref row, 0), g0);
                    g1 = Vector512.FusedMultiplyAdd(factor, ActivationSweep.Widen(ref row, 8), g1);
                    g2 = Vector512.FusedMultiplyAdd(factor, ActivationSweep.Widen(ref row, 16), g2);
                    g3 = Vector512.FusedMultiplyAdd(factor, ActivationSweep.Widen(ref row, 24), g3);
                    g4 = Vector512.FusedMultiplyAdd(factor, ActivationSweep.Widen(ref row, 32), g4);
                    g5 = Vector512.FusedMultiplyAdd(factor, ActivationSweep.Widen(ref row, 40), g5);
                    g6 = Vector512.FusedMultiplyAdd(factor, ActivationSweep.Widen(ref row, 48), g6);
                    g7 = Vector512.FusedMultiplyAdd(factor, ActivationSweep.Widen(ref row, 56), g7);
                }
                for (int k = lo; k < below; k++) a[channels[k] - t0] += changes[k];
                var lanes = QuadraticLanes(ref codes, ref h, 0, g0, Vector512<double>.Zero);
                lanes = QuadraticLanes(ref codes, ref h, 8, g1, lanes);
                lanes = QuadraticLanes(ref codes, ref h, 16, g2, lanes);
                lanes = QuadraticLanes(ref codes, ref h, 24, g3, lanes);
                lanes = QuadraticLanes(ref codes, ref h, 32, g4, lanes);
                lanes = QuadraticLanes(ref codes, ref h, 40, g5, lanes);
                lanes = QuadraticLanes(ref codes, ref h, 48, g6, lanes);
                lanes = QuadraticLanes(ref codes, ref h, 56, g7, lanes);
                partial = 0;
                for (int lane = 0; lane < 8; lane++) partial += lanes.GetElement(lane);
            }
            quadratics[step] += partial;
        }
    }

    /// <summary>
    /// Step <paramref name="step"/>'s changes below <paramref name="tileEnd"/> (its list ascends): from its first change
    /// (Begin) and from the first not reached by an earlier tile (Low) to one past the last (Below), which becomes the
    /// step's cursor for the next tile.
    /// </summary>
    private static (int Begin, int Low, int Below) ChangesBelow(int[] channels, int[] ends, int[] cursors, int step, int tileEnd)
    {
        int begin = step == 0 ? 0 : ends[step - 1], low = cursors[step], below = low;
        while (below < ends[step] && channels[below] < tileEnd) below++;
        cursors[step] = below;
        return (begin, low, below);
    }

    /// <summary>The lanes of <see cref="TileQuadratic"/> after elements t … t + 7: fma(a, fma(h, a, 2g), lanes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<double> QuadraticLanes(ref double a, ref double h, int t, Vector512<double> g, Vector512<double> lanes)
    {
        var at = Vector512.LoadUnsafe(ref a, (nuint)t);
        return Vector512.FusedMultiplyAdd(at, Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref h, (nuint)t), at, 2 * g), lanes);
    }

    /// <summary>
    /// Σ_t a_t·(2·g_t + h_t·a_t) over one tile: element t goes to lane t mod 8 as fma(a, fma(h, a, 2g), lane), and the
    /// lanes are summed in order, on every path.
    /// </summary>
    internal static double TileQuadratic(ReadOnlySpan<double> a, ReadOnlySpan<double> g, ReadOnlySpan<double> h)
    {
        if (g.Length != a.Length || h.Length != a.Length) throw new ArgumentException("TileQuadratic: one g and h per code.");
        var lanes = Vector512<double>.Zero;
        int t = 0;
        for (; t <= a.Length - 8; t += 8)
            lanes = QuadraticLanes(ref MemoryMarshal.GetReference(a), ref MemoryMarshal.GetReference(h), t, Vector512.Create(g.Slice(t, 8)), lanes);
        Span<double> sums = stackalloc double[8];
        lanes.CopyTo(sums);
        for (int lane = 0; t < a.Length; t++, lane++)
            sums[lane] = Math.FusedMultiplyAdd(a[t], Math.FusedMultiplyAdd(h[t], a[t], 2 * g[t]), sums[lane]);
        double total = 0;
        foreach (double sum in sums) total += sum;
        return total;
    }
}
