using LlmFp4.Kit.Models;

namespace LlmFp4.Kit.Calibration;

/// <summary>
/// The channel orders of an RPTQ model. <see cref="Residual"/> reorders the hidden (residual-stream) channels, so every
/// RMSNorm output — the inputs of q/k/v, gate/up and lm_head — comes out reordered; <see cref="AttentionOutput"/>[layer]
/// reorders v_proj's output channels [kvHeads·headDim] inside each key/value head, and so the o_proj input (each query
/// head follows its key/value head); <see cref="MlpHidden"/>[layer] reorders the SwiGLU channels, the down_proj input.
/// </summary>
public sealed record RptqOrder(int[] Residual, IReadOnlyList<int[]> AttentionOutput, IReadOnlyList<int[]> MlpHidden);

/// <summary>
/// Fuses RPTQ's reorder into the weights so no gather runs at inference (METHODS §7): the embedding's columns, every
/// norm weight and the rows of o_proj and down_proj (the residual-stream producers) follow <see cref="RptqOrder.Residual"/>,
/// and so do the columns of q/k/v, gate/up and lm_head (its consumers); v_proj's rows and o_proj's columns follow the
/// attention order inside each head (P·V is per channel, so reordering V's channels reorders the attention output);
/// gate/up rows and down_proj columns follow the MLP order (SiLU(g)·u is per channel). q/k are left alone (RoPE pairs
/// their channels). The reordered model computes the same function; only summation orders change.
/// </summary>
/// <remarks>
/// RPTQ proper clusters each LayerNorm output separately and has the norm kernel write its output in that order. A
/// LLaMA RMSNorm reads the residual stream, so with weights alone one order must serve every norm: it is clustered on
/// the side-by-side (min, max) statistics of all norm outputs, and each norm output still gets its own range per cluster.
/// </remarks>
public static class RptqReorder
{
    /// <summary>The replaced parameters of <paramref name="model"/> under <paramref name="order"/>, by checkpoint name (lm_head always included).</summary>
    public static Dictionary<string, float[]> PermutedWeights(LlamaModel model, RptqOrder order)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(order);
        var config = model.Config;
        int hidden = config.HiddenSize, headDim = config.HeadDim;
        CheckPermutation(order.Residual, hidden, "residual order");
        if (order.AttentionOutput.Count != model.Layers.Count || order.MlpHidden.Count != model.Layers.Count)
            throw new ArgumentException($"RPTQ order: {order.AttentionOutput.Count} attention and {order.MlpHidden.Count} MLP orders for {model.Layers.Count} layers.");
        var sigma = order.Residual;
        var tensors = new Dictionary<string, float[]>
        {
            [model.Embedding.Name] = PermuteColumns(model.Embedding.Data, config.VocabSize, hidden, sigma),
            [model.FinalNorm.Name] = Permute(model.FinalNorm.Data, sigma),
            [model.LmHead.WeightName] = PermuteColumns(model.LmHead.Weight, model.LmHead.OutFeatures, hidden, sigma),
        };
        foreach (var layer in model.Layers)
        {
            int i = layer.Index;
            var valueOrder = order.AttentionOutput[i];
            CheckPermutation(valueOrder, config.KeyValueHeads * headDim, $"layer {i} attention order");
            CheckPermutation(order.MlpHidden[i], config.IntermediateSize, $"layer {i} MLP order");
            var contextOrder = ContextOrder(config, valueOrder);
            var mlp = order.MlpHidden[i];
            tensors[layer.InputNorm.Name] = Permute(layer.InputNorm.Data, sigma);
            tensors[layer.PostAttentionNorm.Name] = Permute(layer.PostAttentionNorm.Data, sigma);
            tensors[layer.QProj.WeightName] = PermuteColumns(layer.QProj.Weight, layer.QProj.OutFeatures, hidden, sigma);
            tensors[layer.KProj.WeightName] = PermuteColumns(layer.KProj.Weight, layer.KProj.OutFeatures, hidden, sigma);
            tensors[layer.VProj.WeightName] = PermuteRows(PermuteColumns(layer.VProj.Weight, layer.VProj.OutFeatures, hidden, sigma), hidden, valueOrder);
            tensors[layer.OProj.WeightName] = PermuteRows(PermuteColumns(layer.OProj.Weight, hidden, hidden, contextOrder), hidden, sigma);
            tensors[layer.GateProj.WeightName] = PermuteRows(PermuteColumns(layer.GateProj.Weight, layer.GateProj.OutFeatures, hidden, sigma), hidden, mlp);
            tensors[layer.UpProj.WeightName] = PermuteRows(PermuteColumns(layer.UpProj.Weight, layer.UpProj.OutFeatures, hidden, sigma), hidden, mlp);
            tensors[layer.DownProj.WeightName] = PermuteRows(PermuteColumns(layer.DownProj.Weight, hidden, config.IntermediateSize, mlp), config.IntermediateSize, sigma);
        }
        return tensors;
    }

    /// <summary>
    /// The o_proj input order [heads·headDim] that follows a v_proj output order [kvHeads·headDim]: query head h takes the
    /// order of its key/value head. Throws unless <paramref name="valueOrder"/> keeps every channel inside its head.
    /// </summary>
    public static int[] ContextOrder(LlamaConfig config, int[] valueOrder)
    {
        ArgumentNullException.ThrowIfNull(config);
        int headDim = config.HeadDim, group = config.NumAttentionHeads / config.KeyValueHeads;
        var result = new int[config.NumAttentionHeads * headDim];
        for (int h = 0; h < config.NumAttentionHeads; h++)
        {
            int kv = h / group;
            for (int p = 0; p < headDim; p++)
            {
                int source = valueOrder[kv * headDim + p];
                if (source / headDim != kv)
                    throw new ArgumentException($"RPTQ attention order moves channel {source} out of key/value head {source / headDim}.");
                result[h * headDim + p] = h * headDim + source - kv * headDim;
            }
        }
        return result;
    }

    /// <summary>result[p] = values[order[p]].</summary>
    public static float[] Permute(ReadOnlySpan<float> values, int[] order)
    {
        var result = new float[values.Length];
        for (int p = 0; p < order.Length; p++) result[p] = values[order[p]];
        return result;
    }

    /// <summary>Columns of a row-major [rows × cols] matrix reordered: result[r, p] = matrix[r, order[p]].</summary>
    public static float[] PermuteColumns(ReadOnlySpan<float> matrix, int rows, int cols, int[] order)
    {
        var result = new float[matrix.Length];
        for (int r = 0; r < rows; r++)
            for (int p = 0; p < cols; p++) result[r * cols + p] = matrix[r * cols + order[p]];
        return result;
    }

    /// <summary>Rows of a row-major [· × cols] matrix reordered: result[p, :] = matrix[order[p], :].</summary>
    public static float[] PermuteRows(ReadOnlySpan<float> matrix, int cols, int[] order)
    {
        var result = new float[matrix.Length];
        for (int p = 0; p < order.Length; p++) matrix.Slice(order[p] * cols, cols).CopyTo(result.AsSpan(p * cols, cols));
        return result;
    }

    private static void CheckPermutation(int[] order, int length, string what)
    {
        if (order.Length != length || order.Distinct().Count() != length || order.Any(j => (uint)j >= (uint)length))
            throw new ArgumentException($"RPTQ {what}: not a permutation of 0..{length - 1}.");
    }
}
