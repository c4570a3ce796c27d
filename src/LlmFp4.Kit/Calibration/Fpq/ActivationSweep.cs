using System.Collections.Concurrent;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Numerics.Tensors;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Calibration;

/// <summary>
/// The activation curves of <see cref="FpqSearch"/>: for every candidate of each activation format, mean((X·Wᵀ − X̂·Ŵᵀ)²)
/// of every layer of an input group, the layers' quantized weights Ŵ held fixed. Each candidate's quantized input is
/// X̂ = S_i·U_i, a scale S_i times values U_i on the format's bias-0 grid (times the pre-shift's power of two per channel).
/// Consecutive candidates differ by a few percent in their bias, so a 4-bit U changes in few places (0.5–3 % of them per
/// candidate on the default model); the sweep walks the candidates in grid order and keeps the products Y = U·Ŵᵀ up to date by adding
/// (U_i − U_(i−1))[t, j] · Ŵ[:, j] only where a value changed, then scores ‖X·Wᵀ − S_i·Y‖². A product over all tokens
/// per candidate becomes one over the changed values only. An 8-bit grid's U changes in 8–90 % of them; where a step
/// changes a third or more of four tokens' inputs it is added as dense rows of every input, each read of Ŵᵀ feeding the
/// four tokens, with the same sums.
/// </summary>
/// <remarks>
/// <para>U is the quantizer's own grid value: the quantizer outputs X̂ = s·g with g = grid(x / s) (<see cref="FakeQuant"/>),
/// and the sweep computes the same g with the same division and rounding (the per-channel divisors are the quantizer's,
/// <see cref="FakeQuant.Divisor(float)"/> of <see cref="FpFormat.GridScale"/>). It scores S·U in double, so it differs from
/// the quantizer's float32 X̂ only by the rounding of that last product (at most half an ulp per element).</para>
/// <para>Y and the squared errors are in double; the reference X·Wᵀ is a float32 GEMM. Tokens are split into fixed chunks
/// that run in parallel, each sweeping all candidates of every format; chunk sums are added in chunk order, so the curves
/// do not depend on the thread count.</para>
/// <para>Where U changes depends only on the inputs and the grid, not on Ŵ: a later round of the same group's search,
/// which sweeps other weights over the same candidates, takes the change lists an earlier sweep kept
/// (<see cref="KeptChanges"/>) instead of rounding every input again.</para>
/// </remarks>
internal sealed class ActivationSweep
{
    /// <summary>Tokens per chunk: a tile's products for the chunk (rows × tile width, double) stay in the core's caches.</summary>
    private const int ChunkTokens = 64;

    /// <summary>
    /// Bytes of Ŵᵀ one tile of outputs reads (in × tile floats): they stay in the core's L2 while every candidate's changes
    /// are added to the tile. Adding each token's changed rows of the whole Ŵᵀ read it from memory again and again once it
    /// outgrew the cache (a TinyLlama-1.1B attention group's Ŵᵀ is 21 MB).
    /// </summary>
    private const int TileBytes = 512 * 1024;

    /// <summary>
    /// Outputs of one <see cref="SweepBlock"/>, the narrowest default tile: a wide input's tile is at least this wide even
    /// where it outgrows <see cref="TileBytes"/>. TinyLlama-1.1B's down_proj (5632 inputs) fitted only 16 outputs in them,
    /// and a tile without a whole block sends every addition through memory: 64-wide tiles, though read from L3, swept it
    /// 1.7× faster than those 16-wide ones (the additions wait on converting Ŵᵀ to double, not on the cache).
    /// </summary>
    private const int BlockOutputs = 64;

    /// <summary>The lanes of <see cref="SquaredErrorScalar"/>: element k of each whole block of 16 goes to lane k.</summary>
    internal const int SquaredErrorLanes = 16;

    /// <summary>How often <see cref="Errors"/> reports the chunks done.</summary>
    private const int ProgressMilliseconds = 250;

    private readonly InputGroup _group;
    private readonly int _tokens, _in, _outputs, _tileWidth, _denseShare;
    private readonly int[] _layerOffsets;        // into the stacked outputs of the (possibly narrowed) layers
    private readonly int[] _layerOutputs;        // each layer's own outputs, for the mean
    private readonly bool[] _narrowed;           // the layer is scored through its narrowed equivalent (see Narrowed)
    private readonly float[] _weights;           // [outputs × in]: every layer's full-precision W, stacked
    private readonly float[] _quantizedColumns;  // Ŵᵀ tile by tile (see Tiles), so a changed input channel j adds one contiguous row
    private readonly KeptChanges? _kept;
    private readonly ConcurrentBag<Workspace> _workspaces = [];

    /// <summary>
    /// The sweep of <paramref name="group"/>'s layers with full-precision and quantized weights (each [outs × in]).
    /// <paramref name="tileWidth"/>: outputs per tile, a multiple of 16 (default: whole blocks of 64, as many as
    /// <see cref="TileBytes"/> of Ŵᵀ hold and at least one); the curves do not depend on it. <paramref name="kept"/>: change lists kept from an earlier sweep of the same
    /// group's inputs, and where this one keeps its own (<see cref="KeptChanges"/>). <paramref name="denseShare"/>: a step
    /// of four tokens is added as dense rows when its changes are at least 1 / denseShare of their inputs (default
    /// <see cref="DenseShare"/>); the curves do not depend on it either.
    /// </summary>
    public ActivationSweep(InputGroup group, IReadOnlyList<(float[] Weight, float[] Quantized, int Outputs)> layers, int? tileWidth = null,
        KeptChanges? kept = null, int denseShare = DenseShare)
    {
        if (tileWidth is { } width && (width <= 0 || width % SquaredErrorLanes != 0))
            throw new ArgumentOutOfRangeException(nameof(tileWidth), $"ActivationSweep: a tile is a positive multiple of {SquaredErrorLanes} outputs, got {width}.");
        if (denseShare <= 0) throw new ArgumentOutOfRangeException(nameof(denseShare), $"ActivationSweep: the dense share is 1 / a positive number, got 1 / {denseShare}.");
        _group = group;
        _denseShare = denseShare;
        _kept = kept;
        _tokens = group.Tokens;
        _in = group.Features;
        _layerOutputs = [.. layers.Select(l => l.Outputs)];
        _narrowed = [.. layers.Select(l => NarrowingPays(l.Outputs, _in))];
        var equivalent = layers.Select((l, i) => _narrowed[i] ? Narrowed(l.Weight, l.Quantized, l.Outputs, _in) : l).ToArray();
        _layerOffsets = new int[layers.Count + 1];
        for (int l = 0; l < layers.Count; l++) _layerOffsets[l + 1] = _layerOffsets[l] + equivalent[l].Outputs;
        _outputs = _layerOffsets[^1];
        // No wider than the widest layer: a tile never spans two layers, and each workspace holds one tile's products.
        _tileWidth = Math.Min(tileWidth ?? Math.Max(BlockOutputs, TileBytes / (sizeof(float) * _in) / BlockOutputs * BlockOutputs),
            equivalent.Max(l => l.Outputs));
        _weights = new float[_outputs * _in];
        _quantizedColumns = new float[_in * _outputs];
        for (int l = 0; l < layers.Count; l++)
        {
            var (weight, quantized, outs) = equivalent[l];
            weight.AsSpan(0, outs * _in).CopyTo(_weights.AsSpan(_layerOffsets[l] * _in));
            foreach (var (first, tile) in Tiles(l))
            {
                var panel = _quantizedColumns.AsSpan(first * _in, tile * _in);
                for (int r = 0; r < tile; r++)
                    for (int j = 0; j < _in; j++)
                        panel[j * tile + r] = quantized[(first - _layerOffsets[l] + r) * _in + j];
            }
        }
    }

    /// <summary>
    /// The tiles of layer <paramref name="l"/>'s scored outputs (a narrowed layer's first in, whose quantized side is not
    /// zero), each (first output, width), in order. Ŵᵀ is stored tile by tile, the tile starting at output o as a panel
    /// [in × width] at o·in: its rows lie side by side in memory. Rows strided by all the outputs (8 KB apart at
    /// TinyLlama-1.1B's down_proj) fell into a few of the cache's sets, and the tile no longer fitted in a cache it fitted
    /// in by size: down_proj's sweep ran 2.1× faster on panels.
    /// </summary>
    private IEnumerable<(int First, int Width)> Tiles(int l)
    {
        for (int first = _layerOffsets[l]; first < ScoredEnd(l); first += _tileWidth) yield return (first, Math.Min(_tileWidth, ScoredEnd(l) - first));
    }

    /// <summary>One past layer <paramref name="l"/>'s last scored output.</summary>
    private int ScoredEnd(int l) => _narrowed[l] ? _layerOffsets[l] + _in : _layerOffsets[l + 1];

    /// <summary>
    /// Additions per changed value that <see cref="Narrowed"/>'s triangle must save before a layer with no more outputs
    /// than twice its inputs is narrowed: it costs a reference product twice as wide and moves the exact curves onto the
    /// factorization's rounding (1e-7 relative). On the default model's 256-wide q/k/v and o_proj it saved nothing
    /// measurable; at TinyLlama-1.1B's width q_proj and o_proj (2048 → 2048) swept 1.6× and 1.7× faster narrowed.
    /// </summary>
    private const int NarrowingSavings = 256;

    /// <summary>
    /// True when a layer of <paramref name="outs"/> outputs is swept through <see cref="Narrowed"/>: it has more outputs
    /// than twice its inputs, or the triangle, whose blocks of 64 reach (in + 64) / 2 outputs per changed value on average,
    /// saves at least <see cref="NarrowingSavings"/> of them.
    /// </summary>
    internal static bool NarrowingPays(int outs, int inFeatures) =>
        outs > 2 * inFeatures || outs - (inFeatures + BlockOutputs) / 2 >= NarrowingSavings;

    /// <summary>
    /// A layer with many outputs (<see cref="NarrowingPays"/>), replaced by one with 2·in outputs and the same output error for
    /// every input pair: with D = Ŵ − W, W·x − Ŵ·x̂ = Ŵ·(x − x̂) − D·x = M·[x − x̂; −x] for M = [Ŵ | D] ([outs × 2in]), and
    /// with MᵀM = L·Lᵀ (Cholesky, in double) and Lᵀ = [A B; 0 C] (in × in blocks, A and C upper triangular) its norm is
    /// that of Lᵀ·[x − x̂; −x] = W'·x − Ŵ'·x̂ with W' = [A − B; −C] and Ŵ' = [A; 0]. The sweep's work per changed value
    /// scales with the quantized side's outputs: lm_head's go from the vocabulary to 2·hidden, and of those input channel j
    /// reaches only the first j + 1 (<see cref="AddTriangle"/>), about hidden / 2 on average; a square layer's from in to
    /// about in / 2.
    /// </summary>
    internal static (float[] Weight, float[] Quantized, int Outputs) Narrowed(float[] weight, float[] quantized, int outs, int inFeatures)
    {
        int width = 2 * inFeatures;
        var m = new float[outs * width];
        for (int r = 0; r < outs; r++)
        {
            quantized.AsSpan(r * inFeatures, inFeatures).CopyTo(m.AsSpan(r * width, inFeatures));
            TensorPrimitives.Subtract(quantized.AsSpan(r * inFeatures, inFeatures), weight.AsSpan(r * inFeatures, inFeatures), m.AsSpan(r * width + inFeatures, inFeatures));
        }
        var gram = new float[width * width];
        Gemm.MatMul(m, m, gram, width, width, outs, transposeA: true);
        var lower = Cholesky.LowerSemidefinite([.. gram.Select(v => (double)v)], width);
        // Lᵀ[i, k] = L[k, i]: A[i, j] = L[j, i], B[i, j] = L[in + j, i], C[i, j] = L[in + j, in + i].
        var narrowWeight = new float[width * inFeatures];
        var narrowQuantized = new float[width * inFeatures];
        for (int i = 0; i < inFeatures; i++)
            for (int j = 0; j < inFeatures; j++)
            {
                double a = lower[j * width + i], b = lower[(inFeatures + j) * width + i];
                narrowWeight[i * inFeatures + j] = (float)(a - b);
                narrowQuantized[i * inFeatures + j] = (float)a;
                narrowWeight[(inFeatures + i) * inFeatures + j] = (float)-lower[(inFeatures + j) * width + inFeatures + i];
            }
        return (narrowWeight, narrowQuantized, width);
    }

    /// <summary>One candidate: the shared scale S, and per input channel the quantizer's divisor and scale / S.</summary>
    private sealed record Candidate(double Scale, float[] Divisors, float[] Ratios);

    /// <summary>
    /// errors[f][l][i] = mean((X·W_lᵀ − X̂_i·Ŵ_lᵀ)²) over tokens and layer l's outputs, for candidates i = 0 … count − 1 of
    /// each of <paramref name="grids"/> (one per activation format). <paramref name="progress"/> gets (chunks done,
    /// chunks) on the calling thread.
    /// </summary>
    public double[][][] Errors(IReadOnlyList<ActivationGrid> grids, int count, Action<int, int>? progress = null)
    {
        var candidates = grids.Select(grid => Enumerable.Range(0, count).Select(i => CandidateOf(grid, i)).ToArray()).ToArray();
        int layers = _layerOffsets.Length - 1;
        int chunks = (_tokens + ChunkTokens - 1) / ChunkTokens;
        var partial = new double[chunks][][];
        // One parallel loop over every chunk, watched from the calling thread: batches of chunks with a report after each
        // left a core idle at every batch's end while the other finished its last chunk.
        int done = 0;
        // At most one chunk per core: the thread pool otherwise adds threads to a long loop (18 workspaces on two cores
        // in a hidden-2048 sweep), each holding its own change lists, and the extra threads only share the same cores.
        var options = new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount };
        var sweep = Task.Run(() => Parallel.For(0, chunks, options, chunk =>
        {
            var workspace = _workspaces.TryTake(out var w) ? w : new Workspace(ChunkTokens, _in, _outputs, _tileWidth);
            partial[chunk] = SweepChunk(chunk, grids, candidates, workspace);
            _workspaces.Add(workspace);
            Interlocked.Increment(ref done);
        }));
        while (!((IAsyncResult)sweep).AsyncWaitHandle.WaitOne(ProgressMilliseconds))
            progress?.Invoke(Volatile.Read(ref done), chunks);
        sweep.GetAwaiter().GetResult();
        progress?.Invoke(chunks, chunks);

        var errors = new double[grids.Count][][];
        for (int f = 0; f < grids.Count; f++)
        {
            errors[f] = new double[layers][];
            for (int l = 0; l < layers; l++)
            {
                errors[f][l] = new double[count];
                double normalizer = (double)_tokens * _layerOutputs[l];
                for (int i = 0; i < count; i++)
                {
                    double total = 0;
                    for (int c = 0; c < chunks; c++) total += partial[c][f][i * layers + l];
                    errors[f][l][i] = total / normalizer;
                }
            }
        }
        return errors;
    }

    private Candidate CandidateOf(ActivationGrid grid, int index)
    {
        float shared = FpQuantizer.BiasScale(grid.Format, grid.Bias(index));
        var scales = ((FpQuantizer)grid.Quantizer(index)).Scales;
        var divisors = new float[_in];
        var ratios = new float[_in];
        for (int j = 0; j < _in; j++)
        {
            float scale = scales.Length == 1 ? scales[0] : scales[j];
            divisors[j] = FakeQuant.Divisor(grid.Format.GridScale(scale));
            ratios[j] = shared == 0 ? 0 : scale / shared;
        }
        return new Candidate(grid.Format.GridScale(shared), divisors, ratios);
    }

    private sealed class Workspace(int rows, int inFeatures, int outputs, int tileWidth)
    {
        public float[] Units = new float[rows * inFeatures];
        public float[] Previous = new float[rows * inFeatures];
        public readonly float[] Reference = new float[rows * outputs];
        public readonly double[] Products = new double[rows * tileWidth];
        public readonly double[] Zeros = new double[inFeatures];
        public readonly int[] AllChannels = [.. Enumerable.Range(0, inFeatures)];
        public int[] Starts = [];
        public int[] Channels = [];
        public double[] Changes = [];
        public float[] NewUnits = [];
        // [token × candidate × 16]: a token's candidates side by side. Candidate-major lanes lay a token's candidates 8 KB
        // apart (64 tokens × 128 bytes), where each candidate's load waited on the previous one's store to the same 4 KB
        // offset: a throwaway harness of SweepBlock's loop ran a list-free candidate in 52.6 cycles against 8.2 token-major.
        public double[] Lanes = [];
        public double[] Dense = [];           // the dense steps' changes: step d's token u at (d·GroupTokens + u)·in
        public int[] DenseSteps = [];         // [candidate × groups]: the step's index in Dense, or −1 where it is a list
        public bool[] GroupHasDense = [];     // [groups]: some step of the group is dense

        /// <summary>Room for <paramref name="steps"/> steps' dense marks and <paramref name="groups"/> groups, none dense.</summary>
        public void PrepareDenseSteps(int steps, int groups)
        {
            if (DenseSteps.Length < steps) DenseSteps = new int[steps];
            if (GroupHasDense.Length < groups) GroupHasDense = new bool[groups];
            DenseSteps.AsSpan(0, steps).Fill(-1);
            GroupHasDense.AsSpan(0, groups).Clear();
        }

        /// <summary>Room for <paramref name="values"/> dense changes, keeping the ones written.</summary>
        public void EnsureDense(int values)
        {
            if (Dense.Length < values) Array.Resize(ref Dense, Math.Max(values, 2 * Dense.Length));
        }

        /// <summary>Room for <paramref name="entries"/> changes, keeping the ones listed.</summary>
        public void EnsureChanges(int entries)
        {
            if (Channels.Length >= entries) return;
            int size = Math.Max(entries, 2 * Channels.Length);
            Array.Resize(ref Channels, size);
            Array.Resize(ref Changes, size);
            Array.Resize(ref NewUnits, size);
        }
    }

    /// <summary>
    /// Σ of squared output errors per (candidate, layer) over one chunk of tokens, [format][candidate × layers]. The
    /// reference X·Wᵀ and the narrowed layers' candidate-free part are computed once for every format
    /// (<see cref="ScoreCandidates"/> does the rest).
    /// </summary>
    private double[][] SweepChunk(int chunk, IReadOnlyList<ActivationGrid> grids, Candidate[][] candidates, Workspace w)
    {
        int t0 = chunk * ChunkTokens, rows = Math.Min(ChunkTokens, _tokens - t0);
        int layers = _layerOffsets.Length - 1;
        var x = _group.Inputs.AsSpan(t0 * _in, rows * _in);
        var reference = w.Reference.AsSpan(0, rows * _outputs);
        Gemm.MatMul(x, _weights, reference, rows, _outputs, _in, transposeB: true);
        // A narrowed layer's last in outputs have a zero quantized side: their squared error is Σ r², the same for every
        // candidate, so it is summed once (token by token, in SquaredErrorScalar's order) and added to each.
        var candidateFree = new double[layers];
        for (int l = 0; l < layers; l++)
            if (_narrowed[l])
                for (int t = 0; t < rows; t++)
                    candidateFree[l] += SquaredErrorScalar(reference.Slice(t * _outputs + _layerOffsets[l] + _in, _in), w.Zeros, 0);
        var sums = new double[grids.Count][];
        for (int f = 0; f < grids.Count; f++)
            sums[f] = ScoreCandidates(chunk, grids[f], candidates[f], x, reference, candidateFree, w);
        return sums;
    }

    /// <summary>
    /// Σ of squared output errors per (candidate, layer) of one format over one chunk, [candidate × layers]. First every
    /// candidate's changes of U are listed (<see cref="ListChanges"/>); then each tile of one layer's outputs takes all of
    /// them, so the tile's columns of Ŵᵀ stay in cache (<see cref="TileBytes"/>): its whole blocks of 64 outputs token by
    /// token through every candidate (<see cref="SweepBlock"/>), or four tokens at a time where their group has dense steps
    /// (<see cref="SweepGroup"/>), the rest candidate by candidate. Every output still
    /// receives its additions in candidate order, channels ascending, and each layer's squared errors are summed in
    /// <see cref="SquaredErrorScalar"/>'s order across its tiles.
    /// </summary>
    private double[] ScoreCandidates(int chunk, ActivationGrid grid, Candidate[] candidates, ReadOnlySpan<float> x, ReadOnlySpan<float> reference,
        double[] candidateFree, Workspace w)
    {
        int rows = x.Length / _in, layers = _layerOffsets.Length - 1;
        if (w.Starts.Length < candidates.Length * rows + 1) w.Starts = new int[candidates.Length * rows + 1];
        int groups = rows / GroupTokens;
        w.PrepareDenseSteps(candidates.Length * groups, groups);
        ListOrFindChanges(grid, chunk, x, rows, candidates, w);
        if (w.Lanes.Length < candidates.Length * rows * SquaredErrorLanes) w.Lanes = new double[candidates.Length * rows * SquaredErrorLanes];
        var sums = new double[candidates.Length * layers];
        for (int l = 0; l < layers; l++)
        {
            for (int i = 0; i < candidates.Length; i++) sums[i * layers + l] = candidateFree[l];
            foreach (var (first, width) in Tiles(l))
            {
                int whole = width / SquaredErrorLanes * SquaredErrorLanes;
                bool layerEnds = first + width == ScoredEnd(l);
                int triangleStart = _narrowed[l] ? first - _layerOffsets[l] : -1;
                var columns = _quantizedColumns.AsSpan(first * _in, width * _in);
                if (first == _layerOffsets[l]) w.Lanes.AsSpan(0, candidates.Length * rows * SquaredErrorLanes).Clear();
                // Whole blocks of 64 outputs go through every candidate with their products in registers; the rest of the
                // tile (and every output without AVX-512) takes the same additions and squares through memory.
                int inRegisters = Avx512F.IsSupported ? width / BlockOutputs * BlockOutputs : 0, rest = width - inRegisters;
                for (int t = 0; t < rows;)
                {
                    int g = t / GroupTokens;
                    if (g < groups && w.GroupHasDense[g])
                    {
                        for (int b = 0; b < inRegisters; b += GroupOutputs)
                            SweepGroup(w, rows, g, groups, candidates, columns[b..], width, reference[(t * _outputs + first + b)..], _outputs,
                                triangleStart < 0 ? -1 : triangleStart + b);
                        t += GroupTokens;
                        continue;
                    }
                    for (int b = 0; b < inRegisters; b += BlockOutputs)
                        SweepBlock(w, rows, t, candidates, columns[b..], width, reference.Slice(t * _outputs + first + b, BlockOutputs),
                            triangleStart < 0 ? -1 : triangleStart + b);
                    t++;
                }
                if (rest == 0 && !layerEnds) continue;
                // With no rest (every tile a multiple of 64 outputs, as on the default model) only the layer's last lanes
                // are summed here: the additions and squares of empty spans were thousands of calls per chunk.
                int restWhole = whole - inRegisters;
                var products = w.Products.AsSpan(0, rows * rest);
                products.Clear();
                for (int i = 0; i < candidates.Length; i++)
                    for (int t = 0; t < rows; t++)
                    {
                        var factors = Step(w, i, t, rows, groups, out var channels);
                        var y = products.Slice(t * rest, rest);
                        var r = reference.Slice(t * _outputs + first + inRegisters, rest);
                        var lanes = w.Lanes.AsSpan((t * candidates.Length + i) * SquaredErrorLanes, SquaredErrorLanes);
                        if (rest > 0)
                        {
                            if (triangleStart >= 0)
                                AddTriangle(factors, channels, columns[inRegisters..], width, triangleStart + inRegisters, y);
                            else
                                AddRows(factors, channels, columns[inRegisters..], width, y);
                            AddSquaredErrorLanes(r[..restWhole], y[..restWhole], candidates[i].Scale, lanes);
                        }
                        if (layerEnds) sums[i * layers + l] += FinishSquaredError(lanes, r[restWhole..], y[restWhole..], candidates[i].Scale);
                    }
            }
        }
        return sums;
    }

    /// <summary>
    /// The changes of candidate <paramref name="i"/>'s step for token <paramref name="t"/> and their
    /// <paramref name="channels"/>: its list, or for a dense step (<see cref="ListChanges"/>) every input's change and every
    /// channel.
    /// </summary>
    private ReadOnlySpan<double> Step(Workspace w, int i, int t, int rows, int groups, out ReadOnlySpan<int> channels)
    {
        int g = t / GroupTokens, dense = g < groups ? w.DenseSteps[i * groups + g] : -1;
        if (dense >= 0)
        {
            channels = w.AllChannels;
            return w.Dense.AsSpan((dense * GroupTokens + t % GroupTokens) * _in, _in);
        }
        int list = i * rows + t, from = w.Starts[list], count = w.Starts[list + 1] - from;
        channels = w.Channels.AsSpan(from, count);
        return w.Changes.AsSpan(from, count);
    }

    /// <summary>
    /// <see cref="ListChanges"/>, with candidates 1 … count − 1 rebuilt from <see cref="_kept"/> when an earlier sweep kept
    /// them: candidate 0 is listed again, which leaves its U in the workspace, and each kept (channel, new U) becomes the
    /// change U − previous U that listing would have written, bit for bit. Otherwise the lists are made and, budget
    /// allowing, kept.
    /// </summary>
    private void ListOrFindChanges(ActivationGrid grid, int chunk, ReadOnlySpan<float> x, int rows, Candidate[] candidates, Workspace w)
    {
        if (_kept?.Find(grid, chunk, candidates.Length) is { } kept)
        {
            ListChanges(grid.Format, x, rows, candidates.AsSpan(0, 1), w);
            int count = w.Starts[rows];
            w.EnsureChanges(count + kept.Units.Length);
            for (int list = 0; list < kept.Starts.Length - 1; list++)
            {
                var previous = w.Previous.AsSpan(list % rows * _in, _in);
                w.Starts[rows + list] = count;
                for (int e = kept.Starts[list]; e < kept.Starts[list + 1]; e++)
                {
                    int channel = kept.Channels[e];
                    float unit = kept.Units[e];
                    w.Channels[count] = channel;
                    w.Changes[count++] = (double)unit - previous[channel];
                    previous[channel] = unit;
                }
            }
            w.Starts[candidates.Length * rows] = count;
            return;
        }
        bool keep = _kept is not null && candidates.Length > 1 && _in <= ushort.MaxValue + 1 && _kept.Wants(grid);
        ListChanges(grid.Format, x, rows, candidates, w, keep);
        if (!keep) return;
        int from = w.Starts[rows], to = w.Starts[candidates.Length * rows];
        var starts = new int[(candidates.Length - 1) * rows + 1];
        for (int list = 0; list < starts.Length; list++) starts[list] = w.Starts[rows + list] - from;
        var channels = new ushort[to - from];
        for (int e = 0; e < channels.Length; e++) channels[e] = (ushort)w.Channels[from + e];
        _kept!.Keep(grid, chunk, candidates.Length, (long)rows * _in, starts, channels, w.NewUnits.AsSpan(from, to - from));
    }

    /// <summary>
    /// Tokens of one <see cref="SweepGroup"/>: each row of Ŵᵀ it reads feeds the FMAs of four tokens, 16 accumulators of 32
    /// outputs.
    /// </summary>
    private const int GroupTokens = 4;

    /// <summary>Outputs of one <see cref="SweepGroup"/>: four tokens of 64 would need all 32 registers for their products.</summary>
    private const int GroupOutputs = 32;

    /// <summary>
    /// A candidate's step for a group of <see cref="GroupTokens"/> tokens is dense when its changes are at least 1 / DenseShare
    /// of the group's inputs. A change through a list costs about 12 cycles per 64 outputs (<see cref="SweepBlock"/>, whose
    /// widened rows each feed one token), a dense input about 4 (<see cref="SweepGroup"/>, at the FMA ports' rate): a
    /// throwaway harness of 100 candidates × 64 tokens × 256 inputs × 512 outputs (lists of random channels) measured the
    /// lists at 14.0, 23.8 and 37.3 ms and the dense steps at 15.6, 15.4 and 15.5 ms for 30, 50 and 85 % changed. 8-bit
    /// activation grids change 8–90 % of the inputs per candidate, 4-bit ones 0.5–3 %.
    /// </summary>
    private const int DenseShare = 3;

    /// <summary>
    /// Every candidate's U for the chunk's tokens, candidate by candidate and token by token, and its changes from the
    /// previous candidate's U into the workspace: list (i, t) is <c>Starts[i·rows + t] … Starts[i·rows + t + 1]</c> of
    /// <c>Channels</c> and <c>Changes</c> (<see cref="ListChanged"/>), except where a candidate after the first changes at
    /// least 1 / the dense share of a group of <see cref="GroupTokens"/> tokens' inputs (<see cref="DenseShare"/>): that step's
    /// list is empty and its changes go to <c>Dense</c> as rows of every input, zero where U did not change (fma(0, ŵ, y) =
    /// y for the sweep's finite Ŵ and y ≠ −0, so a dense row's additions round exactly as a list's), for
    /// <see cref="SweepGroup"/>. The first candidate lists every nonzero U, dense for every grid: alone it would not pay for
    /// adding the other candidates' lists four tokens at a time. With <paramref name="newUnits"/> (lists to keep, for
    /// <see cref="KeptChanges"/>) every step is a list and each change's new U also goes to <c>NewUnits</c>. The last
    /// candidate's U is left in <c>Previous</c>.
    /// </summary>
    private void ListChanges(FpFormat format, ReadOnlySpan<float> x, int rows, ReadOnlySpan<Candidate> candidates, Workspace w, bool newUnits = false)
    {
        int groups = rows / GroupTokens, dense = 0, count = 0;
        bool denseSteps = Avx512F.IsSupported && !newUnits;
        w.Previous.AsSpan(0, rows * _in).Clear();
        for (int i = 0; i < candidates.Length; i++)
        {
            for (int t = 0; t < rows;)
            {
                int g = t / GroupTokens, span = g < groups ? GroupTokens : 1, changed = 0;
                for (int u = t; u < t + span; u++)
                    changed += Round(format, x.Slice(u * _in, _in), candidates[i].Divisors, candidates[i].Ratios, w.Units.AsSpan(u * _in, _in), w.Previous.AsSpan(u * _in, _in));
                bool isDense = denseSteps && i > 0 && span == GroupTokens && (long)_denseShare * changed >= (long)GroupTokens * _in;
                if (isDense)
                {
                    w.DenseSteps[i * groups + g] = dense;
                    w.GroupHasDense[g] = true;
                    w.EnsureDense((dense + 1) * GroupTokens * _in);
                }
                for (int u = t; u < t + span; u++)
                {
                    w.Starts[i * rows + u] = count;
                    var units = w.Units.AsSpan(u * _in, _in);
                    var previous = w.Previous.AsSpan(u * _in, _in);
                    if (isDense)
                    {
                        var row = w.Dense.AsSpan((dense * GroupTokens + u - t) * _in, _in);
                        for (int j = 0; j < _in; j++) row[j] = (double)units[j] - previous[j];
                        continue;
                    }
                    w.EnsureChanges(count + _in);
                    int listed = ListChanged(units, previous, w.Channels.AsSpan(count, _in), w.Changes.AsSpan(count, _in));
                    if (newUnits)
                        for (int e = count; e < count + listed; e++) w.NewUnits[e] = units[w.Channels[e]];
                    count += listed;
                }
                if (isDense) dense++;
                t += span;
            }
            (w.Units, w.Previous) = (w.Previous, w.Units);
        }
        w.Starts[candidates.Length * rows] = count;
    }

    /// <summary>
    /// One token: U[j] = grid(x[j] / divisors[j]) · ratios[j], the quantizer's values on the bias-0 grid with the
    /// per-channel power of two, into <paramref name="units"/>. Returns how many differ from <paramref name="previous"/>.
    /// <see cref="RoundScalar"/> is the definition; the vector path rounds sixteen inputs at a time.
    /// </summary>
    internal static int Round(FpFormat format, ReadOnlySpan<float> x, ReadOnlySpan<float> divisors, ReadOnlySpan<float> ratios,
        Span<float> units, ReadOnlySpan<float> previous)
    {
        int length = x.Length;
        if (divisors.Length < length || ratios.Length < length || units.Length < length || previous.Length < length)
            throw new ArgumentException("Round: divisors, ratios, units and previous values need one element per input.");
        if (!Vector512.IsHardwareAccelerated || !format.HasFastGrid)
            return RoundScalar(format, x, divisors, ratios, units, previous);
        var grid = format.Grid;
        ref float input = ref MemoryMarshal.GetReference(x);
        ref float divisor = ref MemoryMarshal.GetReference(divisors);
        ref float ratio = ref MemoryMarshal.GetReference(ratios);
        ref float unit = ref MemoryMarshal.GetReference(units);
        ref float before = ref MemoryMarshal.GetReference(previous);
        int changed = 0, j = 0;
        for (; j <= length - 16; j += 16)
        {
            var value = grid.Quantize(Vector512.LoadUnsafe(ref input, (nuint)j) / Vector512.LoadUnsafe(ref divisor, (nuint)j))
                * Vector512.LoadUnsafe(ref ratio, (nuint)j);
            value.StoreUnsafe(ref unit, (nuint)j);
            changed += 16 - BitOperations.PopCount(Vector512.Equals(value, Vector512.LoadUnsafe(ref before, (nuint)j)).ExtractMostSignificantBits());
        }
        return changed + RoundScalar(format, x, divisors, ratios, units, previous, j);
    }

    /// <summary>Scalar definition of <see cref="Round"/>, from input <paramref name="from"/> on.</summary>
    internal static int RoundScalar(FpFormat format, ReadOnlySpan<float> x, ReadOnlySpan<float> divisors, ReadOnlySpan<float> ratios,
        Span<float> units, ReadOnlySpan<float> previous, int from = 0)
    {
        int changed = 0;
        for (int j = from; j < x.Length; j++)
        {
            units[j] = RoundToGrid(format, x[j] / divisors[j]) * ratios[j];
            if (units[j] != previous[j]) changed++;
        }
        return changed;
    }

    /// <summary>
    /// Every channel j of one token where U[j] ≠ previous[j], ascending, into <paramref name="channels"/> with
    /// (double)U[j] − previous[j] into <paramref name="changes"/>. Returns how many. <see cref="ListChangedScalar"/> is the
    /// definition; the vector path compares sixty-four inputs at a time.
    /// </summary>
    internal static int ListChanged(ReadOnlySpan<float> units, ReadOnlySpan<float> previous, Span<int> channels, Span<double> changes)
    {
        int length = units.Length;
        if (previous.Length < length || channels.Length < length || changes.Length < length)
            throw new ArgumentException("ListChanged: previous values and both lists need one element per input.");
        if (!Vector512.IsHardwareAccelerated) return ListChangedScalar(units, previous, channels, changes);
        int count = 0, j = 0;
        // The changed lanes of four blocks of 16 in one mask: a test per block of 16 found changes in about a third of them
        // and was mispredicted often; one per 64 inputs took the listing from 9.5 to 8.4 ns per 16 inputs.
        for (; j <= length - 64; j += 64)
        {
            ulong changed = ChangedLanes(units, previous, j) | (ulong)ChangedLanes(units, previous, j + 16) << 16
                | (ulong)ChangedLanes(units, previous, j + 32) << 32 | (ulong)ChangedLanes(units, previous, j + 48) << 48;
            count = AppendChanges(changed, j, units, previous, channels, changes, count);
        }
        for (; j <= length - 16; j += 16)
            count = AppendChanges(ChangedLanes(units, previous, j), j, units, previous, channels, changes, count);
        return count + ListChangedScalar(units, previous, channels[count..], changes[count..], j);
    }

    /// <summary>Bit k set where U[j + k] ≠ previous[j + k], for inputs j … j + 15.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint ChangedLanes(ReadOnlySpan<float> units, ReadOnlySpan<float> previous, int j) =>
        ~(uint)Vector512.Equals(Vector512.LoadUnsafe(ref MemoryMarshal.GetReference(units), (nuint)j),
            Vector512.LoadUnsafe(ref MemoryMarshal.GetReference(previous), (nuint)j)).ExtractMostSignificantBits() & 0xFFFFu;

    /// <summary>Lists input j + k for every bit k of <paramref name="changed"/>, ascending, after the first <paramref name="count"/> entries.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int AppendChanges(ulong changed, int j, ReadOnlySpan<float> units, ReadOnlySpan<float> previous, Span<int> channels, Span<double> changes, int count)
    {
        while (changed != 0)
        {
            int k = j + BitOperations.TrailingZeroCount(changed);
            changed &= changed - 1;
            channels[count] = k;
            changes[count++] = (double)units[k] - previous[k];
        }
        return count;
    }

    /// <summary>Scalar definition of <see cref="ListChanged"/>, from input <paramref name="from"/> on.</summary>
    internal static int ListChangedScalar(ReadOnlySpan<float> units, ReadOnlySpan<float> previous, Span<int> channels, Span<double> changes, int from = 0)
    {
        int count = 0;
        for (int j = from; j < units.Length; j++)
        {
            if (units[j] == previous[j]) continue;
            channels[count] = j;
            changes[count++] = (double)units[j] - previous[j];
        }
        return count;
    }

    /// <summary>
    /// Outputs b … b + 63 of one tile for token <paramref name="t"/> and every candidate in turn: what <see cref="AddRows"/>
    /// (or <see cref="AddTriangle"/>, from channel <paramref name="triangleStart"/> on when it is not −1) and then
    /// <see cref="AddSquaredErrorLanes"/> do for these outputs, candidate by candidate, with the same roundings in the same
    /// order, but with the 64 products and their reference held in registers from the first candidate to the last instead
    /// of stored and read back for each. <paramref name="columns"/> starts at the block's first output. Eight chains of
    /// FMAs: with the four of a 32-wide block each waited on its previous FMA's latency; the widening reads eight floats
    /// straight from memory into each conversion.
    /// </summary>
    private static void SweepBlock(Workspace w, int rows, int t, Candidate[] candidates, ReadOnlySpan<float> columns, int stride,
        ReadOnlySpan<float> reference, int triangleStart)
    {
        ref float source = ref MemoryMarshal.GetReference(columns);
        ref float r = ref MemoryMarshal.GetReference(reference);
        var r0 = Widen(ref r, 0); var r1 = Widen(ref r, 8); var r2 = Widen(ref r, 16); var r3 = Widen(ref r, 24);
        var r4 = Widen(ref r, 32); var r5 = Widen(ref r, 40); var r6 = Widen(ref r, 48); var r7 = Widen(ref r, 56);
        Vector512<double> y0 = default, y1 = default, y2 = default, y3 = default, y4 = default, y5 = default, y6 = default, y7 = default;
        var channels = w.Channels;
        var changes = w.Changes;
        for (int i = 0; i < candidates.Length; i++)
        {
            int list = i * rows + t, m = w.Starts[list], end = w.Starts[list + 1];
            if (triangleStart >= 0)
                while (m < end && channels[m] < triangleStart) m++;
            for (; m < end; m++)
            {
                int channel = channels[m];
                if ((ulong)(uint)channel * (ulong)stride + 64 > (ulong)columns.Length) throw new ArgumentOutOfRangeException(nameof(columns), $"SweepBlock: channel {channel} is outside the matrix.");
                var a = Vector512.Create(changes[m]);
                ref float row = ref Unsafe.Add(ref source, (nuint)channel * (nuint)stride);
                if (m + PrefetchAhead < end) Prefetch(ref Unsafe.Add(ref source, (nuint)channels[m + PrefetchAhead] * (nuint)stride));
                y0 = Vector512.FusedMultiplyAdd(a, Widen(ref row, 0), y0);
                y1 = Vector512.FusedMultiplyAdd(a, Widen(ref row, 8), y1);
                y2 = Vector512.FusedMultiplyAdd(a, Widen(ref row, 16), y2);
                y3 = Vector512.FusedMultiplyAdd(a, Widen(ref row, 24), y3);
                y4 = Vector512.FusedMultiplyAdd(a, Widen(ref row, 32), y4);
                y5 = Vector512.FusedMultiplyAdd(a, Widen(ref row, 40), y5);
                y6 = Vector512.FusedMultiplyAdd(a, Widen(ref row, 48), y6);
                y7 = Vector512.FusedMultiplyAdd(a, Widen(ref row, 56), y7);
            }
            var s = Vector512.Create(-candidates[i].Scale);
            ref double lane = ref w.Lanes[(t * candidates.Length + i) * SquaredErrorLanes];
            var sum0 = Vector512.LoadUnsafe(ref lane);
            var sum1 = Vector512.LoadUnsafe(ref lane, 8);
            var e = Vector512.FusedMultiplyAdd(s, y0, r0); sum0 = Vector512.FusedMultiplyAdd(e, e, sum0);
            e = Vector512.FusedMultiplyAdd(s, y1, r1); sum1 = Vector512.FusedMultiplyAdd(e, e, sum1);
            e = Vector512.FusedMultiplyAdd(s, y2, r2); sum0 = Vector512.FusedMultiplyAdd(e, e, sum0);
            e = Vector512.FusedMultiplyAdd(s, y3, r3); sum1 = Vector512.FusedMultiplyAdd(e, e, sum1);
            e = Vector512.FusedMultiplyAdd(s, y4, r4); sum0 = Vector512.FusedMultiplyAdd(e, e, sum0);
            e = Vector512.FusedMultiplyAdd(s, y5, r5); sum1 = Vector512.FusedMultiplyAdd(e, e, sum1);
            e = Vector512.FusedMultiplyAdd(s, y6, r6); sum0 = Vector512.FusedMultiplyAdd(e, e, sum0);
            e = Vector512.FusedMultiplyAdd(s, y7, r7); sum1 = Vector512.FusedMultiplyAdd(e, e, sum1);
            sum0.StoreUnsafe(ref lane);
            sum1.StoreUnsafe(ref lane, 8);
        }
    }

    /// <summary>
    /// Outputs b … b + 31 of one tile for the <see cref="GroupTokens"/> tokens of group <paramref name="g"/> and every
    /// candidate in turn, the products of all four in registers from the first candidate to the last: what
    /// <see cref="SweepBlock"/> does for one token and 64 outputs, with the same roundings in the same order. A dense step
    /// (<see cref="ListChanges"/>) walks every input channel from the triangle's start on, each widened row of Ŵᵀ feeding
    /// the four tokens' FMAs; a step that stays a list adds each token's changes in turn. <paramref name="reference"/> starts
    /// at the group's first token and the block's first output, its tokens <paramref name="referenceStride"/> floats apart.
    /// </summary>
    private void SweepGroup(Workspace w, int rows, int g, int groups, Candidate[] candidates, ReadOnlySpan<float> columns, int stride,
        ReadOnlySpan<float> reference, int referenceStride, int triangleStart)
    {
        if ((long)(_in - 1) * stride + GroupOutputs > columns.Length || (long)(GroupTokens - 1) * referenceStride + GroupOutputs > reference.Length)
            throw new ArgumentOutOfRangeException(nameof(columns), "SweepGroup: the block reaches past Ŵᵀ or the reference.");
        ref float source = ref MemoryMarshal.GetReference(columns);
        ref float r = ref MemoryMarshal.GetReference(reference);
        int from = Math.Max(0, triangleStart);
        Vector512<double> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
        Vector512<double> c0 = default, c1 = default, c2 = default, c3 = default, d0 = default, d1 = default, d2 = default, d3 = default;
        for (int i = 0; i < candidates.Length; i++)
        {
            int list = i * rows + g * GroupTokens, step = w.DenseSteps[i * groups + g];
            if (step >= 0)
            {
                ref double dense = ref w.Dense[step * GroupTokens * _in];
                for (int j = from; j < _in; j++)
                {
                    var fa = Vector512.Create(Unsafe.Add(ref dense, j));
                    var fb = Vector512.Create(Unsafe.Add(ref dense, _in + j));
                    var fc = Vector512.Create(Unsafe.Add(ref dense, 2 * _in + j));
                    var fd = Vector512.Create(Unsafe.Add(ref dense, 3 * _in + j));
                    ref float row = ref Unsafe.Add(ref source, (nuint)j * (nuint)stride);
                    var x = Widen(ref row, 0);
                    a0 = Vector512.FusedMultiplyAdd(fa, x, a0); b0 = Vector512.FusedMultiplyAdd(fb, x, b0);
                    c0 = Vector512.FusedMultiplyAdd(fc, x, c0); d0 = Vector512.FusedMultiplyAdd(fd, x, d0);
                    x = Widen(ref row, 8);
                    a1 = Vector512.FusedMultiplyAdd(fa, x, a1); b1 = Vector512.FusedMultiplyAdd(fb, x, b1);
                    c1 = Vector512.FusedMultiplyAdd(fc, x, c1); d1 = Vector512.FusedMultiplyAdd(fd, x, d1);
                    x = Widen(ref row, 16);
                    a2 = Vector512.FusedMultiplyAdd(fa, x, a2); b2 = Vector512.FusedMultiplyAdd(fb, x, b2);
                    c2 = Vector512.FusedMultiplyAdd(fc, x, c2); d2 = Vector512.FusedMultiplyAdd(fd, x, d2);
                    x = Widen(ref row, 24);
                    a3 = Vector512.FusedMultiplyAdd(fa, x, a3); b3 = Vector512.FusedMultiplyAdd(fb, x, b3);
                    c3 = Vector512.FusedMultiplyAdd(fc, x, c3); d3 = Vector512.FusedMultiplyAdd(fd, x, d3);
                }
            }
            else
            {
                AddListed(w, list, from, ref source, stride, ref a0, ref a1, ref a2, ref a3);
                AddListed(w, list + 1, from, ref source, stride, ref b0, ref b1, ref b2, ref b3);
                AddListed(w, list + 2, from, ref source, stride, ref c0, ref c1, ref c2, ref c3);
                AddListed(w, list + 3, from, ref source, stride, ref d0, ref d1, ref d2, ref d3);
            }
            var s = Vector512.Create(-candidates[i].Scale);
            int lanes = (g * GroupTokens * candidates.Length + i) * SquaredErrorLanes, nextToken = candidates.Length * SquaredErrorLanes;
            AddSquares(ref w.Lanes[lanes], s, ref r, a0, a1, a2, a3);
            AddSquares(ref w.Lanes[lanes + nextToken], s, ref Unsafe.Add(ref r, referenceStride), b0, b1, b2, b3);
            AddSquares(ref w.Lanes[lanes + 2 * nextToken], s, ref Unsafe.Add(ref r, 2 * referenceStride), c0, c1, c2, c3);
            AddSquares(ref w.Lanes[lanes + 3 * nextToken], s, ref Unsafe.Add(ref r, 3 * referenceStride), d0, d1, d2, d3);
        }
    }

    /// <summary>One token's listed changes of channels ≥ <paramref name="from"/> added to its 32 products.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddListed(Workspace w, int list, int from, ref float source, int stride,
        ref Vector512<double> y0, ref Vector512<double> y1, ref Vector512<double> y2, ref Vector512<double> y3)
    {
        var channels = w.Channels;
        var changes = w.Changes;
        int m = w.Starts[list], end = w.Starts[list + 1];
        while (m < end && channels[m] < from) m++;
        var (p0, p1, p2, p3) = (y0, y1, y2, y3);
        for (; m < end; m++)
        {
            var a = Vector512.Create(changes[m]);
            ref float row = ref Unsafe.Add(ref source, (nuint)channels[m] * (nuint)stride);
            p0 = Vector512.FusedMultiplyAdd(a, Widen(ref row, 0), p0);
            p1 = Vector512.FusedMultiplyAdd(a, Widen(ref row, 8), p1);
            p2 = Vector512.FusedMultiplyAdd(a, Widen(ref row, 16), p2);
            p3 = Vector512.FusedMultiplyAdd(a, Widen(ref row, 24), p3);
        }
        (y0, y1, y2, y3) = (p0, p1, p2, p3);
    }

    /// <summary>
    /// <see cref="AddSquaredErrorLanes"/> for 32 products in registers against the 32 reference floats at <paramref name="r"/>:
    /// <paramref name="s"/> is −scale.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddSquares(ref double lane, Vector512<double> s, ref float r, Vector512<double> y0, Vector512<double> y1,
        Vector512<double> y2, Vector512<double> y3)
    {
        var sum0 = Vector512.LoadUnsafe(ref lane);
        var sum1 = Vector512.LoadUnsafe(ref lane, 8);
        var e = Vector512.FusedMultiplyAdd(s, y0, Widen(ref r, 0)); sum0 = Vector512.FusedMultiplyAdd(e, e, sum0);
        e = Vector512.FusedMultiplyAdd(s, y1, Widen(ref r, 8)); sum1 = Vector512.FusedMultiplyAdd(e, e, sum1);
        e = Vector512.FusedMultiplyAdd(s, y2, Widen(ref r, 16)); sum0 = Vector512.FusedMultiplyAdd(e, e, sum0);
        e = Vector512.FusedMultiplyAdd(s, y3, Widen(ref r, 24)); sum1 = Vector512.FusedMultiplyAdd(e, e, sum1);
        sum0.StoreUnsafe(ref lane);
        sum1.StoreUnsafe(ref lane, 8);
    }

    /// <summary>
    /// y += Σ_m factors[m] · matrix[rows[m], 0 … y.Length) for a row-major matrix whose rows start
    /// <paramref name="stride"/> floats apart (y may cover the first columns of a wider matrix), with every
    /// element rounded as y[i] = fma(a_m, x_m[i], … fma(a_1, x_1[i], y[i])) in the order given on every path (the
    /// scalar tail is the definition), so the bytes do not depend on the vector width. Each block of 64 (then 16) elements
    /// of y is held in registers while every row is added to it: y (double) moves through the cache once per call instead
    /// of once per row, and a block of 64 keeps eight independent FMA chains (a block of 16 waits on two chains' latency
    /// for every row: <see cref="WeightCodeSweep"/>'s tiles of 64 ran about 3× faster with it). This sweep runs its whole
    /// blocks of 64 outputs through <see cref="SweepBlock"/>, which keeps them in registers across candidates too, and only
    /// the rest of a tile through this.
    /// </summary>
    internal static void AddRows(ReadOnlySpan<double> factors, ReadOnlySpan<int> rows, ReadOnlySpan<float> matrix, int stride, Span<double> y)
    {
        if (factors.Length != rows.Length) throw new ArgumentException("AddRows: one factor per row.");
        int width = y.Length;
        if (stride < width) throw new ArgumentException("AddRows: rows must be at least as long as y.");
        if (rows.Length == 0 || width == 0) return;
        foreach (int row in rows)
            if (row < 0 || (long)row * stride + width > matrix.Length) throw new ArgumentOutOfRangeException(nameof(rows), $"AddRows: row {row} is outside the matrix.");
        ref double target = ref MemoryMarshal.GetReference(y);
        ref float source = ref MemoryMarshal.GetReference(matrix);
        ref double factor = ref MemoryMarshal.GetReference(factors);
        ref int row0 = ref MemoryMarshal.GetReference(rows);
        int count = rows.Length, i = 0;
        if (Avx512F.IsSupported)
        {
            for (; i <= width - 64; i += 64)
            {
                var y0 = Vector512.LoadUnsafe(ref target, (nuint)i);
                var y1 = Vector512.LoadUnsafe(ref target, (nuint)(i + 8));
                var y2 = Vector512.LoadUnsafe(ref target, (nuint)(i + 16));
                var y3 = Vector512.LoadUnsafe(ref target, (nuint)(i + 24));
                var y4 = Vector512.LoadUnsafe(ref target, (nuint)(i + 32));
                var y5 = Vector512.LoadUnsafe(ref target, (nuint)(i + 40));
                var y6 = Vector512.LoadUnsafe(ref target, (nuint)(i + 48));
                var y7 = Vector512.LoadUnsafe(ref target, (nuint)(i + 56));
                for (int m = 0; m < count; m++)
                {
                    var a = Vector512.Create(Unsafe.Add(ref factor, m));
                    ref float row = ref Unsafe.Add(ref source, (nuint)Unsafe.Add(ref row0, m) * (nuint)stride + (nuint)i);
                    if (m + PrefetchAhead < count)
                        Prefetch(ref Unsafe.Add(ref source, (nuint)Unsafe.Add(ref row0, m + PrefetchAhead) * (nuint)stride + (nuint)i));
                    y0 = Vector512.FusedMultiplyAdd(a, Widen(ref row, 0), y0);
                    y1 = Vector512.FusedMultiplyAdd(a, Widen(ref row, 8), y1);
                    y2 = Vector512.FusedMultiplyAdd(a, Widen(ref row, 16), y2);
                    y3 = Vector512.FusedMultiplyAdd(a, Widen(ref row, 24), y3);
                    y4 = Vector512.FusedMultiplyAdd(a, Widen(ref row, 32), y4);
                    y5 = Vector512.FusedMultiplyAdd(a, Widen(ref row, 40), y5);
                    y6 = Vector512.FusedMultiplyAdd(a, Widen(ref row, 48), y6);
                    y7 = Vector512.FusedMultiplyAdd(a, Widen(ref row, 56), y7);
                }
                y0.StoreUnsafe(ref target, (nuint)i);
                y1.StoreUnsafe(ref target, (nuint)(i + 8));
                y2.StoreUnsafe(ref target, (nuint)(i + 16));
                y3.StoreUnsafe(ref target, (nuint)(i + 24));
                y4.StoreUnsafe(ref target, (nuint)(i + 32));
                y5.StoreUnsafe(ref target, (nuint)(i + 40));
                y6.StoreUnsafe(ref target, (nuint)(i + 48));
                y7.StoreUnsafe(ref target, (nuint)(i + 56));
            }
            for (; i <= width - 16; i += 16)
            {
                var y0 = Vector512.LoadUnsafe(ref target, (nuint)i);
                var y1 = Vector512.LoadUnsafe(ref target, (nuint)(i + 8));
                for (int m = 0; m < count; m++)
                {
                    var a = Vector512.Create(Unsafe.Add(ref factor, m));
                    ref float row = ref Unsafe.Add(ref source, (nuint)Unsafe.Add(ref row0, m) * (nuint)stride + (nuint)i);
                    y0 = Vector512.FusedMultiplyAdd(a, Widen(ref row, 0), y0);
                    y1 = Vector512.FusedMultiplyAdd(a, Widen(ref row, 8), y1);
                }
                y0.StoreUnsafe(ref target, (nuint)i);
                y1.StoreUnsafe(ref target, (nuint)(i + 8));
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= width - 16; i += 16)
            {
                var y0 = Vector256.LoadUnsafe(ref target, (nuint)i);
                var y1 = Vector256.LoadUnsafe(ref target, (nuint)(i + 4));
                var y2 = Vector256.LoadUnsafe(ref target, (nuint)(i + 8));
                var y3 = Vector256.LoadUnsafe(ref target, (nuint)(i + 12));
                for (int m = 0; m < count; m++)
                {
                    var a = Vector256.Create(Unsafe.Add(ref factor, m));
                    nuint start = (nuint)Unsafe.Add(ref row0, m) * (nuint)stride + (nuint)i;
                    var (x0, x1) = Vector256.Widen(Vector256.LoadUnsafe(ref source, start));
                    var (x2, x3) = Vector256.Widen(Vector256.LoadUnsafe(ref source, start + 8));
                    y0 = Vector256.FusedMultiplyAdd(a, x0, y0);
                    y1 = Vector256.FusedMultiplyAdd(a, x1, y1);
                    y2 = Vector256.FusedMultiplyAdd(a, x2, y2);
                    y3 = Vector256.FusedMultiplyAdd(a, x3, y3);
                }
                y0.StoreUnsafe(ref target, (nuint)i);
                y1.StoreUnsafe(ref target, (nuint)(i + 4));
                y2.StoreUnsafe(ref target, (nuint)(i + 8));
                y3.StoreUnsafe(ref target, (nuint)(i + 12));
            }
        }
        for (; i < width; i++)
        {
            double sum = y[i];
            for (int m = 0; m < count; m++) sum = Math.FusedMultiplyAdd(factors[m], matrix[rows[m] * stride + i], sum);
            y[i] = sum;
        }
    }

    /// <summary>
    /// <see cref="AddRows"/> for a tile of the upper triangle A of a narrowed layer's quantized side (<see cref="Narrowed"/>),
    /// the tile starting at the layer's output <paramref name="firstOutput"/>: input channel j reaches only the outputs
    /// 0 … j, so each block of 64 outputs starting at output a takes the changes of channels ≥ a (a suffix: the channels
    /// ascend). What it leaves out adds exact zeros, so the sums are <see cref="AddRows"/>' bit for bit (y is never −0: it
    /// starts at +0, and a sum that cancels to zero is +0).
    /// </summary>
    internal static void AddTriangle(ReadOnlySpan<double> factors, ReadOnlySpan<int> channels, ReadOnlySpan<float> matrix, int stride,
        int firstOutput, Span<double> y)
    {
        int m = 0;
        for (int a = 0; a < y.Length; a += 64)
        {
            while (m < channels.Length && channels[m] < firstOutput + a) m++;
            if (m == channels.Length) return;
            AddRows(factors[m..], channels[m..], matrix[a..], stride, y.Slice(a, Math.Min(64, y.Length - a)));
        }
    }

    /// <summary>
    /// Changes ahead of the one being added whose 64 floats <see cref="Prefetch"/> asks for. The rows a list of changes
    /// reads are scattered over a tile that outgrows L2 at wide inputs (TinyLlama-1.1B's down_proj: 1.4 MB of Ŵᵀ, and as
    /// much of the Gram in <see cref="WeightCodeSweep"/>), where the hardware prefetchers do not follow them: asking 12
    /// changes ahead took a down_proj search (1024 tokens, k = 100, one round; a throwaway harness, runs alternating with
    /// the build before) from 62.1–62.6 to 53.7–56.5 s; 6 ahead gained less.
    /// </summary>
    internal const int PrefetchAhead = 12;

    /// <summary>Asks for the four cache lines of 64 floats from <paramref name="row"/> on; a hint, which never faults.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe void Prefetch(ref float row)
    {
        byte* line = (byte*)Unsafe.AsPointer(ref row);
        Sse.Prefetch0(line);
        Sse.Prefetch0(line + 64);
        Sse.Prefetch0(line + 128);
        Sse.Prefetch0(line + 192);
    }

    /// <summary>Eight floats from <paramref name="row"/>[<paramref name="offset"/>] on, widened to double.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<double> Widen(ref float row, int offset) =>
        Avx512F.ConvertToVector512Double(Vector256.LoadUnsafe(ref row, (nuint)offset));

    /// <summary>y rounded onto the format's integer-bias grid (the values a quantizer's output divided by its grid scale lies on).</summary>
    private static float RoundToGrid(FpFormat format, float y) => format.HasFastGrid ? format.Grid.Quantize(y) : format.RoundToGridExact(y);

    /// <summary>
    /// The whole blocks' part of <see cref="SquaredErrorScalar"/>: lanes[k] = fma(e, e, lanes[k]) for element k of each
    /// block of 16, e = fma(−scale, products[i], reference[i]), blocks in order; a sum can be taken a few blocks at a time. <paramref name="reference"/>'s length must be a multiple of 16; <paramref name="lanes"/> has 16.
    /// </summary>
    internal static void AddSquaredErrorLanes(ReadOnlySpan<float> reference, ReadOnlySpan<double> products, double scale, Span<double> lanes)
    {
        if (reference.Length % SquaredErrorLanes != 0 || products.Length != reference.Length || lanes.Length != SquaredErrorLanes)
            throw new ArgumentException("AddSquaredErrorLanes: whole blocks of 16 products, one per reference value, and 16 lanes.");
        ref float r = ref MemoryMarshal.GetReference(reference);
        ref double y = ref MemoryMarshal.GetReference(products);
        ref double lane = ref MemoryMarshal.GetReference(lanes);
        if (Vector512.IsHardwareAccelerated)
        {
            var s = Vector512.Create(-scale);
            var sum0 = Vector512.LoadUnsafe(ref lane);
            var sum1 = Vector512.LoadUnsafe(ref lane, 8);
            for (int i = 0; i < reference.Length; i += 16)
            {
                var (low, high) = Vector512.Widen(Vector512.LoadUnsafe(ref r, (nuint)i));
                var e0 = Vector512.FusedMultiplyAdd(s, Vector512.LoadUnsafe(ref y, (nuint)i), low);
                var e1 = Vector512.FusedMultiplyAdd(s, Vector512.LoadUnsafe(ref y, (nuint)(i + 8)), high);
                sum0 = Vector512.FusedMultiplyAdd(e0, e0, sum0);
                sum1 = Vector512.FusedMultiplyAdd(e1, e1, sum1);
            }
            sum0.StoreUnsafe(ref lane);
            sum1.StoreUnsafe(ref lane, 8);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var s = Vector256.Create(-scale);
            var sum0 = Vector256.LoadUnsafe(ref lane);
            var sum1 = Vector256.LoadUnsafe(ref lane, 4);
            var sum2 = Vector256.LoadUnsafe(ref lane, 8);
            var sum3 = Vector256.LoadUnsafe(ref lane, 12);
            for (int i = 0; i < reference.Length; i += 16)
            {
                var (a, b) = Vector256.Widen(Vector256.LoadUnsafe(ref r, (nuint)i));
                var (c, d) = Vector256.Widen(Vector256.LoadUnsafe(ref r, (nuint)(i + 8)));
                var e0 = Vector256.FusedMultiplyAdd(s, Vector256.LoadUnsafe(ref y, (nuint)i), a);
                var e1 = Vector256.FusedMultiplyAdd(s, Vector256.LoadUnsafe(ref y, (nuint)(i + 4)), b);
                var e2 = Vector256.FusedMultiplyAdd(s, Vector256.LoadUnsafe(ref y, (nuint)(i + 8)), c);
                var e3 = Vector256.FusedMultiplyAdd(s, Vector256.LoadUnsafe(ref y, (nuint)(i + 12)), d);
                sum0 = Vector256.FusedMultiplyAdd(e0, e0, sum0);
                sum1 = Vector256.FusedMultiplyAdd(e1, e1, sum1);
                sum2 = Vector256.FusedMultiplyAdd(e2, e2, sum2);
                sum3 = Vector256.FusedMultiplyAdd(e3, e3, sum3);
            }
            sum0.StoreUnsafe(ref lane);
            sum1.StoreUnsafe(ref lane, 4);
            sum2.StoreUnsafe(ref lane, 8);
            sum3.StoreUnsafe(ref lane, 12);
        }
        else
        {
            for (int i = 0; i < reference.Length; i++)
            {
                double e = Math.FusedMultiplyAdd(-scale, products[i], reference[i]);
                lanes[i % SquaredErrorLanes] = Math.FusedMultiplyAdd(e, e, lanes[i % SquaredErrorLanes]);
            }
        }
    }

    /// <summary>The rest of <see cref="SquaredErrorScalar"/>: Σ_k (lanes[k] + lanes[k + 8]) ascending, then the tail's squares in order.</summary>
    internal static double FinishSquaredError(ReadOnlySpan<double> lanes, ReadOnlySpan<float> tailReference, ReadOnlySpan<double> tailProducts, double scale)
    {
        double total = 0;
        for (int k = 0; k < SquaredErrorLanes / 2; k++) total += lanes[k] + lanes[k + SquaredErrorLanes / 2];
        for (int i = 0; i < tailReference.Length; i++)
        {
            double e = Math.FusedMultiplyAdd(-scale, tailProducts[i], tailReference[i]);
            total = Math.FusedMultiplyAdd(e, e, total);
        }
        return total;
    }

    /// <summary>
    /// Σ (reference[k] − scale · products[k])² in double, in the fixed order the sweep sums a layer's squared errors on every
    /// vector width: element k of each whole block of 16 goes to lane k (e = fma(−scale, y, r), lane = fma(e, e, lane)),
    /// lanes k and k + 8 are added, the eight sums added in ascending order, then the tail in order. The sweep takes it in
    /// pieces, <see cref="AddSquaredErrorLanes"/> tile by tile then <see cref="FinishSquaredError"/>; this is the definition
    /// in plain loops.
    /// </summary>
    internal static double SquaredErrorScalar(ReadOnlySpan<float> reference, ReadOnlySpan<double> products, double scale)
    {
        var lanes = new double[16];
        int i = 0, blocks = reference.Length / 16 * 16;
        for (; i < blocks; i++)
        {
            double e = Math.FusedMultiplyAdd(-scale, products[i], reference[i]);
            lanes[i % 16] = Math.FusedMultiplyAdd(e, e, lanes[i % 16]);
        }
        double total = 0;
        for (int k = 0; k < 8; k++) total += lanes[k] + lanes[k + 8];
        for (; i < reference.Length; i++)
        {
            double e = Math.FusedMultiplyAdd(-scale, products[i], reference[i]);
            total = Math.FusedMultiplyAdd(e, e, total);
        }
        return total;
    }
}
