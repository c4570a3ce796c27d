using LlmFp4.Kit.Models;
using LlmFp4.Kit.Tensors;
using System.Numerics.Tensors;

namespace LlmFp4.Kit.Training;

/// <summary>
/// Causal softmax attention for training: the forward pass runs the runtime's <see cref="Attention"/> kernels and
/// keeps the attention probabilities, the backward pass uses them. Multi-head and grouped-query (query head h reads key/value head <c>h / (heads / kvHeads)</c>).
/// Activations are token-major: q and the output are [sequences·T × heads·headDim], k and v
/// [sequences·T × kvHeads·headDim], with rotary embeddings already applied to q and k.
/// </summary>
/// <remarks>
/// Work is split over (sequence, key/value head) units, each done wholly by one thread with its own scratch, so
/// results do not depend on the number of threads. Rows are processed in blocks of <see cref="BlockRows"/> queries
/// that only multiply against the keys they can see, which skips most of the masked upper triangle; block b of a
/// head stores its probabilities as a dense [rows × (last row + 1)] matrix (<see cref="ProbabilityCount"/> floats per head).
/// </remarks>
public sealed unsafe class CausalAttention
{
    public const int BlockRows = 64;

    private readonly int _workers;
    private readonly Scratch[] _scratch;
    private readonly int[] _blockOffsets;

    public int SequenceLength { get; }
    public int Heads { get; }
    public int KeyValueHeads { get; }
    public int HeadDim { get; }

    /// <summary>Floats of stored probabilities per (sequence, head).</summary>
    public int ProbabilityCount { get; }

    public CausalAttention(int sequenceLength, int heads, int keyValueHeads, int headDim, int threads = 0)
    {
        if (sequenceLength <= 0 || heads <= 0 || keyValueHeads <= 0 || headDim <= 0 || heads % keyValueHeads != 0)
            throw new ArgumentException($"CausalAttention: invalid shape T={sequenceLength}, heads={heads}, kvHeads={keyValueHeads}, headDim={headDim}.");
        SequenceLength = sequenceLength;
        Heads = heads;
        KeyValueHeads = keyValueHeads;
        HeadDim = headDim;
        int blocks = (sequenceLength + BlockRows - 1) / BlockRows;
        _blockOffsets = new int[blocks + 1];
        for (int b = 0; b < blocks; b++)
        {
            int r0 = b * BlockRows, r1 = Math.Min(sequenceLength, r0 + BlockRows);
            _blockOffsets[b + 1] = _blockOffsets[b] + (r1 - r0) * r1;
        }
        ProbabilityCount = _blockOffsets[blocks];
        _workers = threads > 0 ? threads : Environment.ProcessorCount;
        _scratch = new Scratch[_workers];
        for (int w = 0; w < _workers; w++) _scratch[w] = new Scratch(sequenceLength, headDim);
    }

    private sealed class Scratch(int t, int d)
    {
        public readonly float[] Q = new float[t * d], K = new float[t * d], V = new float[t * d], O = new float[t * d];
        public readonly float[] DO = new float[t * d], DQ = new float[t * d], DK = new float[t * d], DV = new float[t * d];
        public readonly float[] DP = new float[BlockRows * t];
        public readonly float[] RowDot = new float[t];
    }

    /// <summary>
    /// <c>output = softmax(q·kᵀ/√headDim + causal mask)·v</c> for <paramref name="sequences"/> sequences, storing the
    /// probabilities in <paramref name="probabilities"/> (sequences·heads·<see cref="ProbabilityCount"/> floats).
    /// Float32 with GEMM accumulation; a NaN in a row's scores makes that row NaN.
    /// </summary>
    public void Forward(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, int sequences,
        Span<float> probabilities, Span<float> output)
    {
        Check(q, k, v, sequences, probabilities, output, "output");
        fixed (float* pq = q, pk = k, pv = v, pp = probabilities, po = output)
        {
            var args = new Pointers(pq, pk, pv, pp, po, null, null, null, null);
            RunUnits(sequences, (unit, scratch) => ForwardUnit(unit, scratch, args));
        }
    }

    /// <summary>
    /// Gradients of <see cref="Forward"/> with respect to q, k and v (overwritten), from the upstream gradient
    /// <paramref name="dOutput"/> and the forward's inputs, probabilities and output.
    /// </summary>
    public void Backward(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, int sequences,
        ReadOnlySpan<float> probabilities, ReadOnlySpan<float> output, ReadOnlySpan<float> dOutput,
        Span<float> dq, Span<float> dk, Span<float> dv)
    {
        Check(q, k, v, sequences, probabilities, output, "output");
        if (dOutput.Length < output.Length || dq.Length < q.Length || dk.Length < k.Length || dv.Length < v.Length)
            throw new ArgumentException("CausalAttention: gradient buffers must be as long as their activations.");
        fixed (float* pq = q, pk = k, pv = v, pp = probabilities, po = output, pdo = dOutput, pdq = dq, pdk = dk, pdv = dv)
        {
            var args = new Pointers(pq, pk, pv, pp, po, pdo, pdq, pdk, pdv);
            RunUnits(sequences, (unit, scratch) => BackwardUnit(unit, scratch, args));
        }
    }

    private readonly struct Pointers(float* q, float* k, float* v, float* p, float* o, float* dO, float* dq, float* dk, float* dv)
    {
        public readonly float* Q = q, K = k, V = v, P = p, O = o, DO = dO, DQ = dq, DK = dk, DV = dv;
    }

    private void RunUnits(int sequences, Action<int, Scratch> body)
    {
        int units = sequences * KeyValueHeads, workers = Math.Min(_workers, units);
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, w =>
        {
            for (int unit = w; unit < units; unit += workers) body(unit, _scratch[w]);
        });
    }

    private void ForwardUnit(int unit, Scratch s, Pointers a)
    {
        int t = SequenceLength, d = HeadDim, group = Heads / KeyValueHeads;
        int sequence = unit / KeyValueHeads, kvHead = unit % KeyValueHeads;
        float scale = 1f / MathF.Sqrt(d);
        Gather(a.K, sequence, kvHead, KeyValueHeads, s.K);
        Gather(a.V, sequence, kvHead, KeyValueHeads, s.V);
        for (int h = kvHead * group; h < (kvHead + 1) * group; h++)
        {
            Gather(a.Q, sequence, h, Heads, s.Q);
            var probabilities = new Span<float>(a.P + ((long)sequence * Heads + h) * ProbabilityCount, ProbabilityCount);
            for (int block = 0; block < _blockOffsets.Length - 1; block++)
            {
                int r0 = block * BlockRows, r1 = Math.Min(t, r0 + BlockRows), rows = r1 - r0;
                // The runtime's kernels: the block's queries sit at positions r0.. and see keys 0 .. r1 − 1.
                Span<float> p = probabilities.Slice(_blockOffsets[block], rows * r1);
                Attention.CausalProbabilities(s.Q.AsSpan(r0 * d, rows * d), d, s.K, d, rows, r1, d, scale, p);
                Attention.WeightedSum(p, s.V, d, rows, r1, d, s.O.AsSpan(r0 * d, rows * d), d, causal: true);
            }
            Scatter(s.O, sequence, h, Heads, a.O);
        }
    }

    private void BackwardUnit(int unit, Scratch s, Pointers a)
    {
        int t = SequenceLength, d = HeadDim, group = Heads / KeyValueHeads;
        int sequence = unit / KeyValueHeads, kvHead = unit % KeyValueHeads;
        float scale = 1f / MathF.Sqrt(d);
        Gather(a.K, sequence, kvHead, KeyValueHeads, s.K);
        Gather(a.V, sequence, kvHead, KeyValueHeads, s.V);
        Array.Clear(s.DK);
        Array.Clear(s.DV);
        for (int h = kvHead * group; h < (kvHead + 1) * group; h++)
        {
            Gather(a.Q, sequence, h, Heads, s.Q);
            Gather(a.O, sequence, h, Heads, s.O);
            Gather(a.DO, sequence, h, Heads, s.DO);
            for (int i = 0; i < t; i++) s.RowDot[i] = TensorPrimitives.Dot(s.DO.AsSpan(i * d, d), s.O.AsSpan(i * d, d));
            var probabilities = new ReadOnlySpan<float>(a.P + ((long)sequence * Heads + h) * ProbabilityCount, ProbabilityCount);
            for (int block = 0; block < _blockOffsets.Length - 1; block++)
            {
                int r0 = block * BlockRows, r1 = Math.Min(t, r0 + BlockRows), rows = r1 - r0;
                ReadOnlySpan<float> p = probabilities.Slice(_blockOffsets[block], rows * r1);
                ReadOnlySpan<float> dO = s.DO.AsSpan(r0 * d, rows * d), q = s.Q.AsSpan(r0 * d, rows * d);
                Span<float> dp = s.DP.AsSpan(0, rows * r1);
                Gemm.MatMul(dO, s.V, dp, rows, r1, d, transposeB: true);
                Gemm.MatMul(p, dO, s.DV, r1, d, rows, transposeA: true, beta: 1);
                for (int i = 0; i < rows; i++)
                {
                    // dS = P ⊙ (dP − Σ_j P·dP) · scale, with Σ_j P·dP = dO·O for each row.
                    Span<float> row = dp.Slice(i * r1, r1);
                    TensorPrimitives.Subtract(row, s.RowDot[r0 + i], row);
                    TensorPrimitives.Multiply(row, p.Slice(i * r1, r1), row);
                    TensorPrimitives.Multiply(row, scale, row);
                }
                Gemm.MatMul(dp, s.K, s.DQ.AsSpan(r0 * d, rows * d), rows, d, r1);
                Gemm.MatMul(dp, q, s.DK, r1, d, rows, transposeA: true, beta: 1);
            }
            Scatter(s.DQ, sequence, h, Heads, a.DQ);
        }
        Scatter(s.DK, sequence, kvHead, KeyValueHeads, a.DK);
        Scatter(s.DV, sequence, kvHead, KeyValueHeads, a.DV);
    }

    private void Gather(float* source, int sequence, int head, int heads, float[] destination)
    {
        int t = SequenceLength, d = HeadDim, width = heads * d;
        float* start = source + (long)sequence * t * width + head * d;
        for (int i = 0; i < t; i++) new ReadOnlySpan<float>(start + (long)i * width, d).CopyTo(destination.AsSpan(i * d, d));
    }

    private void Scatter(float[] source, int sequence, int head, int heads, float* destination)
    {
        int t = SequenceLength, d = HeadDim, width = heads * d;
        float* start = destination + (long)sequence * t * width + head * d;
        for (int i = 0; i < t; i++) source.AsSpan(i * d, d).CopyTo(new Span<float>(start + (long)i * width, d));
    }

    private void Check(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, int sequences,
        ReadOnlySpan<float> probabilities, ReadOnlySpan<float> output, string outputName)
    {
        long tokens = (long)sequences * SequenceLength;
        if (sequences <= 0) throw new ArgumentException($"CausalAttention: sequences must be positive, got {sequences}.");
        if (q.Length < tokens * Heads * HeadDim || output.Length < tokens * Heads * HeadDim)
            throw new ArgumentException($"CausalAttention: q ({q.Length}) and {outputName} ({output.Length}) need {tokens * Heads * HeadDim} elements.");
        if (k.Length < tokens * KeyValueHeads * HeadDim || v.Length < tokens * KeyValueHeads * HeadDim)
            throw new ArgumentException($"CausalAttention: k ({k.Length}) and v ({v.Length}) need {tokens * KeyValueHeads * HeadDim} elements.");
        if (probabilities.Length < (long)sequences * Heads * ProbabilityCount)
            throw new ArgumentException($"CausalAttention: probabilities have {probabilities.Length} elements, need {(long)sequences * Heads * ProbabilityCount}.");
    }
}
