using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Models;

/// <summary>
/// A model as the calibrators see it, whatever its architecture (LLaMA decoder, BERT encoder): its linear layers
/// grouped by the input they share, the norm that produces each group's input, the token embedding, the optional
/// attention-matmul points, the channel layout RPTQ reorders, a forward pass over calibration windows for capture (run
/// block by block), and its parameters by name (identity, apply and save). docs/methods.md ("The model a calibrator
/// sees") describes what each calibrator reads; a method that needs a piece a model lacks refuses with an error naming
/// the model and the piece.
/// </summary>
public interface IQuantizableModel
{
    /// <summary>Architecture name as Hugging Face's <c>model_type</c> (<c>llama</c>, <c>bert</c>); used in error messages.</summary>
    string Architecture { get; }

    /// <summary>The model's configuration object, recorded (as JSON) with every calibration result.</summary>
    object Config { get; }

    /// <summary>Every linear layer, in execution order. Calibrators replace their weights and set their input quantizers.</summary>
    IReadOnlyList<LinearLayer> Linears { get; }

    /// <summary>
    /// The linear layers grouped by the input they read (LLaMA: q/k/v, o, gate/up, down per block, then lm_head when
    /// <paramref name="includeOutputHead"/>), in execution order. Every layer of <see cref="Linears"/> but the output head is
    /// in exactly one group.
    /// </summary>
    IReadOnlyList<LinearGroup> LinearGroups(bool includeOutputHead);

    /// <summary>The token embedding table [vocab × hidden] an embedding spec quantizes (one scale per row), or null when the model has none.</summary>
    NamedTensor? TokenEmbedding { get; }

    /// <summary>The optional quantization points on the attention matmuls' operands (off by default).</summary>
    IReadOnlyList<QuantizationPoint> AttentionMatMulPoints { get; }

    /// <summary>The channel spaces RPTQ may reorder, or null when the model cannot be reordered (RPTQ then refuses it).</summary>
    ChannelLayout? ChannelLayout { get; }

    /// <summary>Sees every linear layer's input and output during forward passes; null = off.</summary>
    ILinearObserver? Observer { get; set; }

    /// <summary>
    /// Starts a forward pass over <paramref name="batches"/> (each a batch of whole sequences, each sequence from position
    /// 0) that runs one block at a time over every batch, then the head (<see cref="StagedForward"/>), so that the
    /// observer and the quantization points see the batches stage by stage, exactly as a whole forward pass of each batch
    /// shows them; the outputs are discarded. The embeddings are computed here.
    /// </summary>
    /// <exception cref="ArgumentException">A sequence is too long or holds an id outside the vocabulary (the message names it).</exception>
    StagedForward StartStagedForward(IReadOnlyList<IReadOnlyList<int[]>> batches);

    /// <summary>The current parameters by checkpoint name, live arrays, in a fixed order (the weights hash follows it).</summary>
    IEnumerable<(string Name, Tensor Tensor)> NamedWeights();

    /// <summary>
    /// Replaces parameters by checkpoint name (arrays are kept, not copied): linear weights and biases, norm parameters,
    /// embedding tables. Throws <see cref="InvalidDataException"/> naming a tensor the model does not have.
    /// </summary>
    void ReplaceParameters(IReadOnlyDictionary<string, float[]> tensors);

    /// <summary>
    /// The parameters <see cref="ChannelLayout"/>'s spaces touch, reordered by <paramref name="order"/>, by checkpoint name; the
    /// reordered model computes the same function. Throws <see cref="NotSupportedException"/> when <see cref="ChannelLayout"/> is null.
    /// </summary>
    Dictionary<string, float[]> ReorderedWeights(ChannelOrder order);
}

/// <summary>
/// Linear layers that read the same input, e.g. <c>model.layers.3.self_attn.qkv_input</c> → q, k, v. <see cref="Norm"/>
/// holds the per-channel parameters of the normalisation that produces the input (RMSNorm: its weight; LayerNorm: weight
/// and bias): dividing each by s_j divides input channel j by s_j. Empty when the input has no such producer (LLaMA's
/// o_proj and down_proj inputs). In a pre-norm model (LLaMA) the norm's output feeds only this group, so a per-channel
/// input scale folds into it. <see cref="NormFeedsResidual"/> marks a post-norm model (BERT), where the norm's output is
/// also the residual stream: a scale folded into the norm would scale the residual too, and the next LayerNorm is not
/// invariant to that, so nothing may be folded there (the norm still marks the input as a residual-stream channel space,
/// which RPTQ reorders).
/// </summary>
public sealed record LinearGroup(string Name, IReadOnlyList<LinearLayer> Layers, IReadOnlyList<NamedTensor> Norm, bool NormFeedsResidual = false)
{
    /// <summary>A group whose input no norm produces.</summary>
    public LinearGroup(string name, IReadOnlyList<LinearLayer> layers) : this(name, layers, []) { }
}

/// <summary>
/// The channel spaces a transformer can permute without changing its function (RPTQ, docs/methods.md §7): the hidden
/// (residual) channels of width <see cref="Hidden"/>, which every group with a norm reads; per block, the attention output
/// (the input of <see cref="Blocks"/>[i].AttentionOutput, <see cref="Heads"/> × <see cref="HeadDim"/> channels, each
/// query head following its key/value head, channels staying inside their head); and the MLP hidden channels (the input
/// of <see cref="Blocks"/>[i].MlpHidden, <see cref="MlpWidth"/> wide).
/// </summary>
public sealed record ChannelLayout(int Hidden, int Heads, int KeyValueHeads, int HeadDim, int MlpWidth,
    IReadOnlyList<(string AttentionOutput, string MlpHidden)> Blocks)
{
    /// <summary>
    /// The attention-output order [heads·headDim] that follows a value order [kvHeads·headDim]: query head h takes the order
    /// of its key/value head. Throws <see cref="ArgumentException"/> unless <paramref name="valueOrder"/> keeps every channel inside its head.
    /// </summary>
    public int[] ContextOrder(int[] valueOrder)
    {
        ArgumentNullException.ThrowIfNull(valueOrder);
        int group = Heads / KeyValueHeads;
        var result = new int[Heads * HeadDim];
        for (int h = 0; h < Heads; h++)
        {
            int kv = h / group;
            for (int p = 0; p < HeadDim; p++)
            {
                int source = valueOrder[kv * HeadDim + p];
                if (source / HeadDim != kv)
                    throw new ArgumentException($"RPTQ attention order moves channel {source} out of key/value head {source / HeadDim}.");
                result[h * HeadDim + p] = h * HeadDim + source - kv * HeadDim;
            }
        }
        return result;
    }
}

/// <summary>
/// Channel orders for <see cref="IQuantizableModel.ReorderedWeights"/>: new position p holds old channel order[p].
/// <see cref="Residual"/> for the hidden channels; per block <see cref="AttentionOutput"/> over the value channels
/// [kvHeads·headDim] (inside each head) and <see cref="MlpHidden"/> over the MLP channels.
/// </summary>
public sealed record ChannelOrder(int[] Residual, IReadOnlyList<int[]> AttentionOutput, IReadOnlyList<int[]> MlpHidden);

/// <summary>Reorders vectors and the rows or columns of row-major matrices.</summary>
public static class ChannelPermutation
{
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

    /// <summary>Throws <see cref="ArgumentException"/> naming <paramref name="what"/> unless <paramref name="order"/> is a permutation of 0..length-1.</summary>
    public static void Check(int[] order, int length, string what)
    {
        if (order.Length != length || order.Distinct().Count() != length || order.Any(j => (uint)j >= (uint)length))
            throw new ArgumentException($"RPTQ {what}: not a permutation of 0..{length - 1}.");
    }
}
