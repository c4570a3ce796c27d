using System.Buffers;
using System.Runtime.Intrinsics;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Models;

/// <summary>
/// Scaled dot-product attention for one head, split in its two matrix products so a caller can
/// act on the probabilities in between (quantize them, keep them for the backward pass).
/// Causal (decoders): query row i sits at position <c>keys − queries + i</c> and sees keys <c>0 ..</c> that
/// position, so the same kernels serve a full forward (queries = keys) and decoding against a KV cache
/// (queries &lt; keys). Bidirectional (encoders): every query sees every key; padding is masked by passing only
/// a sequence's real tokens.
/// Rows are addressed with a stride, so one head can be read straight out of a [tokens × heads·headDim]
/// projection. Grouped-query attention is the caller passing the shared KV head's offset.
/// </summary>
public static class Attention
{
    /// <summary>
    /// <c>probs[i, j] = softmax_j(scale · q_i · k_j)</c> over the visible keys <c>j ≤ keys − queries + i</c>, and 0
    /// for the masked ones; <paramref name="probs"/> is [queries × keys]. Dot products in float32 (GEMM kernel,
    /// ascending d, one FMA per term), softmax as <see cref="Softmax.Forward"/>. NaN in q or k gives NaN rows.
    /// </summary>
    public static void CausalProbabilities(ReadOnlySpan<float> q, int queryStride, ReadOnlySpan<float> k, int keyStride,
        int queries, int keys, int headDim, float scale, Span<float> probs) =>
        Probabilities(q, queryStride, k, keyStride, queries, keys, headDim, scale, probs, causal: true);

    /// <summary>
    /// Bidirectional attention (BERT): <c>probs[i, j] = softmax_j(scale · q_i · k_j)</c> over all <paramref name="keys"/>;
    /// otherwise as <see cref="CausalProbabilities"/>.
    /// </summary>
    public static void BidirectionalProbabilities(ReadOnlySpan<float> q, int queryStride, ReadOnlySpan<float> k, int keyStride,
        int queries, int keys, int headDim, float scale, Span<float> probs) =>
        Probabilities(q, queryStride, k, keyStride, queries, keys, headDim, scale, probs, causal: false);

    private static void Probabilities(ReadOnlySpan<float> q, int queryStride, ReadOnlySpan<float> k, int keyStride,
        int queries, int keys, int headDim, float scale, Span<float> probs, bool causal)
    {
        CheckShapes(q, queryStride, k, keyStride, queries, keys, headDim, probs.Length, causal ? "CausalProbabilities" : "BidirectionalProbabilities");
        float[] queryRows = Gather(q, queryStride, queries, headDim), keyRows = Gather(k, keyStride, keys, headDim);
        try
        {
            // Causal: the GEMM leaves tiles wholly past the diagonal unwritten, and every masked entry is cleared below.
            HeadGemm.MatMul(queryRows.AsSpan(0, queries * headDim), keyRows.AsSpan(0, keys * headDim), probs[..(queries * keys)],
                queries, keys, headDim, transposeA: false, transposeB: true, alpha: scale, beta: 0,
                causal ? CausalSkip.MaskedColumns : CausalSkip.None, keys - queries);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(queryRows);
            ArrayPool<float>.Shared.Return(keyRows);
        }
        for (int i = 0; i < queries; i++)
        {
            int visible = causal ? keys - queries + i + 1 : keys;
            Span<float> row = probs.Slice(i * keys, keys);
            Softmax.Forward(row[..visible], row);
            row[visible..].Clear();
        }
    }

    /// <summary>Scalar reference for <see cref="CausalProbabilities"/>: dot products and softmax in double.</summary>
    public static void CausalProbabilitiesScalar(ReadOnlySpan<float> q, int queryStride, ReadOnlySpan<float> k, int keyStride,
        int queries, int keys, int headDim, float scale, Span<float> probs) =>
        ProbabilitiesScalar(q, queryStride, k, keyStride, queries, keys, headDim, scale, probs, causal: true);

    /// <summary>Scalar reference for <see cref="BidirectionalProbabilities"/>: dot products and softmax in double.</summary>
    public static void BidirectionalProbabilitiesScalar(ReadOnlySpan<float> q, int queryStride, ReadOnlySpan<float> k, int keyStride,
        int queries, int keys, int headDim, float scale, Span<float> probs) =>
        ProbabilitiesScalar(q, queryStride, k, keyStride, queries, keys, headDim, scale, probs, causal: false);

    private static void ProbabilitiesScalar(ReadOnlySpan<float> q, int queryStride, ReadOnlySpan<float> k, int keyStride,
        int queries, int keys, int headDim, float scale, Span<float> probs, bool causal)
    {
        CheckShapes(q, queryStride, k, keyStride, queries, keys, headDim, probs.Length, causal ? "CausalProbabilities" : "BidirectionalProbabilities");
        for (int i = 0; i < queries; i++)
        {
            int visible = causal ? keys - queries + i + 1 : keys;
            Span<float> row = probs.Slice(i * keys, keys);
            for (int j = 0; j < visible; j++)
            {
                double dot = 0;
                for (int d = 0; d < headDim; d++) dot += (double)q[i * queryStride + d] * k[j * keyStride + d];
                row[j] = (float)(scale * dot);
            }
            Softmax.ForwardScalar(row[..visible], row);
            row[visible..].Clear();
        }
    }

    /// <summary>
    /// <c>output_i = Σ_j probs[i, j] · v_j</c>, with <paramref name="probs"/> [queries × keys]; output rows written with
    /// <paramref name="outputStride"/>. Accumulates in float32 in ascending j with one FMA per term (GEMM kernel). NaN
    /// propagates. With <paramref name="causal"/> the masked entries <c>j &gt; keys − queries + i</c> must be zero (as
    /// <see cref="CausalProbabilities"/> leaves them) and the products skip most of them (those past the last visible key of
    /// each panel of 6 queries), which changes no value while v is finite: a sum plus <c>0 · v</c> is the sum. Without it
    /// every key is summed.
    /// </summary>
    public static void WeightedSum(ReadOnlySpan<float> probs, ReadOnlySpan<float> v, int valueStride,
        int queries, int keys, int headDim, Span<float> output, int outputStride, bool causal = false)
    {
        CheckWeightedSum(probs, v, valueStride, queries, keys, headDim, output, outputStride);
        float[] valueRows = Gather(v, valueStride, keys, headDim), outputRows = ArrayPool<float>.Shared.Rent(queries * headDim);
        try
        {
            HeadGemm.MatMul(probs[..(queries * keys)], valueRows.AsSpan(0, keys * headDim), outputRows.AsSpan(0, queries * headDim),
                queries, headDim, keys, transposeA: false, transposeB: false, alpha: 1, beta: 0,
                causal ? CausalSkip.MaskedDepth : CausalSkip.None, keys - queries);
            for (int i = 0; i < queries; i++)
                outputRows.AsSpan(i * headDim, headDim).CopyTo(output.Slice(i * outputStride, headDim));
        }
        finally
        {
            ArrayPool<float>.Shared.Return(valueRows);
            ArrayPool<float>.Shared.Return(outputRows);
        }
    }

    /// <summary>
    /// One head's products run on a single-threaded managed GEMM: callers parallelise over heads, and the
    /// result must not depend on which GEMM backend the rest of the model uses.
    /// </summary>
    private static readonly ManagedGemm HeadGemm = new(Vector512.IsHardwareAccelerated, threads: 1);

    /// <summary>Copies <paramref name="rows"/> strided rows of <paramref name="width"/> into a pooled contiguous buffer.</summary>
    private static float[] Gather(ReadOnlySpan<float> source, int stride, int rows, int width)
    {
        float[] buffer = ArrayPool<float>.Shared.Rent(Math.Max(1, rows * width));
        for (int r = 0; r < rows; r++) source.Slice(r * stride, width).CopyTo(buffer.AsSpan(r * width, width));
        return buffer;
    }

    /// <summary>Scalar reference for <see cref="WeightedSum"/>, in double, over the visible keys only (all of them unless <paramref name="causal"/>).</summary>
    public static void WeightedSumScalar(ReadOnlySpan<float> probs, ReadOnlySpan<float> v, int valueStride,
        int queries, int keys, int headDim, Span<float> output, int outputStride, bool causal = true)
    {
        CheckWeightedSum(probs, v, valueStride, queries, keys, headDim, output, outputStride);
        for (int i = 0; i < queries; i++)
            for (int d = 0; d < headDim; d++)
            {
                double sum = 0;
                int visible = causal ? keys - queries + i + 1 : keys;
                for (int j = 0; j < visible; j++) sum += (double)probs[i * keys + j] * v[j * valueStride + d];
                output[i * outputStride + d] = (float)sum;
            }
    }

    private static void CheckShapes(ReadOnlySpan<float> q, int queryStride, ReadOnlySpan<float> k, int keyStride,
        int queries, int keys, int headDim, int probsLength, string kernel)
    {
        if (queries < 0 || keys < queries)
            throw new ArgumentException($"{kernel}: need 0 ≤ queries ≤ keys, got {queries} queries and {keys} keys.");
        if (headDim <= 0 || queryStride < headDim || keyStride < headDim)
            throw new ArgumentException($"{kernel}: strides ({queryStride}, {keyStride}) must be at least the head dimension {headDim} > 0.");
        if (queries > 0 && q.Length < (long)(queries - 1) * queryStride + headDim)
            throw new ArgumentException($"{kernel}: q has {q.Length} elements, too few for {queries} rows of stride {queryStride}.");
        if (keys > 0 && k.Length < (long)(keys - 1) * keyStride + headDim)
            throw new ArgumentException($"{kernel}: k has {k.Length} elements, too few for {keys} rows of stride {keyStride}.");
        if (probsLength < (long)queries * keys)
            throw new ArgumentException($"{kernel}: probs has {probsLength} elements, needs {(long)queries * keys}.");
    }

    private static void CheckWeightedSum(ReadOnlySpan<float> probs, ReadOnlySpan<float> v, int valueStride,
        int queries, int keys, int headDim, Span<float> output, int outputStride)
    {
        if (queries < 0 || keys < queries)
            throw new ArgumentException($"WeightedSum: need 0 ≤ queries ≤ keys, got {queries} queries and {keys} keys.");
        if (headDim <= 0 || valueStride < headDim || outputStride < headDim)
            throw new ArgumentException($"WeightedSum: strides ({valueStride}, {outputStride}) must be at least the head dimension {headDim} > 0.");
        if (probs.Length < (long)queries * keys)
            throw new ArgumentException($"WeightedSum: probs has {probs.Length} elements, needs {(long)queries * keys}.");
        if (keys > 0 && v.Length < (long)(keys - 1) * valueStride + headDim)
            throw new ArgumentException($"WeightedSum: v has {v.Length} elements, too few for {keys} rows of stride {valueStride}.");
        if (queries > 0 && output.Length < (long)(queries - 1) * outputStride + headDim)
            throw new ArgumentException($"WeightedSum: output has {output.Length} elements, too few for {queries} rows of stride {outputStride}.");
    }
}
