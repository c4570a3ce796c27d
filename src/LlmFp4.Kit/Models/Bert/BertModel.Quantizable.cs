using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Models.Bert;

/// <summary>
/// The BERT encoder as the calibrators see it (<see cref="IQuantizableModel"/>, docs/methods.md "The model a calibrator
/// sees"). BERT is post-LayerNorm: each LayerNorm's output is both the input of the next linear group and the residual
/// stream, so its groups list that norm with <see cref="LinearGroup.NormFeedsResidual"/> set and no calibrator folds a
/// scale into it.
/// </summary>
public sealed partial class BertModel
{
    /// <summary>
    /// Name of the hidden-channel order of a reordered model (RPTQ), stored with the parameters as float32 integers:
    /// position p of the residual stream holds original channel order[p]. Not a Hugging Face parameter; absent (identity)
    /// in an imported model.
    /// </summary>
    public const string ResidualOrderName = "encoder.residual_order";

    private int[]? _residualOrder;

    /// <inheritdoc />
    public string Architecture => "bert";

    object IQuantizableModel.Config => Config;

    /// <inheritdoc />
    public NamedTensor TokenEmbedding => WordEmbeddings;

    /// <summary>
    /// Per layer [query, key, value] (input: the previous layer's <c>output.LayerNorm</c>, or <c>embeddings.LayerNorm</c>
    /// for layer 0), [attention.output.dense], [intermediate.dense] (input: <c>attention.output.LayerNorm</c>),
    /// [output.dense]. An encoder has no output head, so <paramref name="includeOutputHead"/> changes nothing.
    /// </summary>
    public IReadOnlyList<LinearGroup> LinearGroups(bool includeOutputHead)
    {
        var groups = new List<LinearGroup>();
        foreach (var layer in Layers)
        {
            string prefix = $"encoder.layer.{layer.Index}";
            NamedTensor[] input = layer.Index == 0
                ? [EmbeddingNormWeight, EmbeddingNormBias]
                : [Layers[layer.Index - 1].OutputNormWeight, Layers[layer.Index - 1].OutputNormBias];
            groups.Add(new($"{prefix}.attention.self.qkv_input", [layer.Query, layer.Key, layer.Value], input, NormFeedsResidual: true));
            groups.Add(new($"{prefix}.attention.output.dense_input", [layer.AttentionOutput]));
            groups.Add(new($"{prefix}.intermediate.dense_input", [layer.Intermediate], [layer.AttentionNormWeight, layer.AttentionNormBias], NormFeedsResidual: true));
            groups.Add(new($"{prefix}.output.dense_input", [layer.Output]));
        }
        return groups;
    }

    /// <summary>Hidden channels, the attention.output.dense input per layer (value rows reorder it) and the output.dense input (intermediate rows).</summary>
    public ChannelLayout ChannelLayout => new(HiddenSize, Config.NumAttentionHeads, Config.NumAttentionHeads, Config.HeadDim, Config.IntermediateSize,
        [.. Layers.Select(l => ($"encoder.layer.{l.Index}.attention.output.dense_input", $"encoder.layer.{l.Index}.output.dense_input"))]);

    /// <summary>
    /// Stages <c>encoder.layer.{i}</c>, one encoder block each (an encoder has no head), each running the code of
    /// <see cref="Forward"/> on the model's buffers; token types are all zero, as for single sentences.
    /// </summary>
    public StagedForward StartStagedForward(IReadOnlyList<IReadOnlyList<int[]>> batches)
    {
        ArgumentNullException.ThrowIfNull(batches);
        foreach (var batch in batches) CheckSequences(batch, null);
        return new StagedForward(batches, HiddenSize, tokens =>
            {
                EnsureTokens(tokens);
                return _hidden;
            }, (sequences, tokens) => Embed(sequences, null, tokens),
            [.. Layers.Select(layer => (new ForwardStage($"encoder.layer.{layer.Index}", layer.Linears, layer.AttentionMatMulPoints),
                (StagedForward.BatchStep)((sequences, tokens) => RunBlock(layer, sequences, tokens))))]);
    }

    /// <summary>
    /// Replaces embeddings, LayerNorm parameters, linear weights and biases, and <see cref="ResidualOrderName"/>, by name.
    /// Throws <see cref="InvalidDataException"/> for a name the model does not have, <see cref="ArgumentException"/> for a
    /// wrong size or an order that is not a permutation.
    /// </summary>
    public void ReplaceParameters(IReadOnlyDictionary<string, float[]> tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var dense = DenseParameters().ToDictionary(t => t.Name);
        var weights = Linears.ToDictionary(l => l.WeightName);
        var biases = Linears.ToDictionary(l => l.BiasName);
        foreach (var (name, values) in tensors)
        {
            if (dense.TryGetValue(name, out var tensor)) tensor.Data = values;
            else if (weights.TryGetValue(name, out var linear)) linear.Weight = values;
            else if (biases.TryGetValue(name, out var biased)) biased.Bias = values;
            else if (name == ResidualOrderName) _residualOrder = ReadResidualOrder(values);
            else throw new InvalidDataException($"tensor '{name}' is not a parameter of this BERT model.");
        }
    }

    /// <summary>
    /// Every tensor that touches the residual stream follows the residual order: the columns of the three embedding tables,
    /// every LayerNorm's weight and bias, the rows and biases of attention.output.dense and output.dense (the producers),
    /// the columns of query, key, value and intermediate.dense (the consumers). LayerNorm's mean and variance do not depend
    /// on the channel order. Value rows and biases and attention.output.dense columns follow the attention order inside each
    /// head; intermediate rows and biases and output.dense columns follow the intermediate order (GELU is per channel).
    /// Query and key keep their rows: QKᵀ sums over the head's channels in any order. The sentence embedding is read after
    /// the last LayerNorm, so <see cref="ResidualOrderName"/> records the composed order and the encoder writes its last
    /// hidden state back in the original channel order: the reordered model computes the same function.
    /// </summary>
    public Dictionary<string, float[]> ReorderedWeights(ChannelOrder order)
    {
        ArgumentNullException.ThrowIfNull(order);
        int hidden = HiddenSize, inner = Config.IntermediateSize;
        ChannelPermutation.Check(order.Residual, hidden, "residual order");
        if (order.AttentionOutput.Count != Layers.Count || order.MlpHidden.Count != Layers.Count)
            throw new ArgumentException($"RPTQ order: {order.AttentionOutput.Count} attention and {order.MlpHidden.Count} MLP orders for {Layers.Count} layers.");
        var sigma = order.Residual;
        var layout = ChannelLayout;
        var tensors = new Dictionary<string, float[]>();
        foreach (var table in new[] { WordEmbeddings, PositionEmbeddings, TokenTypeEmbeddings })
            tensors[table.Name] = ChannelPermutation.PermuteColumns(table.Data, table.Shape[0], hidden, sigma);
        void Vector(NamedTensor tensor, int[] by) => tensors[tensor.Name] = ChannelPermutation.Permute(tensor.Data, by);
        void Linear(LinearLayer linear, int[]? columns, int[]? rows)
        {
            var weight = columns is null ? linear.Weight : ChannelPermutation.PermuteColumns(linear.Weight, linear.OutFeatures, linear.InFeatures, columns);
            tensors[linear.WeightName] = rows is null ? weight : ChannelPermutation.PermuteRows(weight, linear.InFeatures, rows);
            if (rows is not null && linear.Bias is { } bias) tensors[linear.BiasName] = ChannelPermutation.Permute(bias, rows);
        }
        Vector(EmbeddingNormWeight, sigma);
        Vector(EmbeddingNormBias, sigma);
        foreach (var layer in Layers)
        {
            int i = layer.Index;
            var valueOrder = order.AttentionOutput[i];
            ChannelPermutation.Check(valueOrder, hidden, $"layer {i} attention order");
            ChannelPermutation.Check(order.MlpHidden[i], inner, $"layer {i} MLP order");
            var contextOrder = layout.ContextOrder(valueOrder);
            var mlp = order.MlpHidden[i];
            Linear(layer.Query, sigma, null);
            Linear(layer.Key, sigma, null);
            Linear(layer.Value, sigma, valueOrder);
            Linear(layer.AttentionOutput, contextOrder, sigma);
            Vector(layer.AttentionNormWeight, sigma);
            Vector(layer.AttentionNormBias, sigma);
            Linear(layer.Intermediate, sigma, mlp);
            Linear(layer.Output, mlp, sigma);
            Vector(layer.OutputNormWeight, sigma);
            Vector(layer.OutputNormBias, sigma);
        }
        var current = _residualOrder ?? [.. Enumerable.Range(0, hidden)];
        tensors[ResidualOrderName] = [.. sigma.Select(p => (float)current[p])];
        return tensors;
    }

    private IEnumerable<NamedTensor> DenseParameters() =>
        new[] { WordEmbeddings, PositionEmbeddings, TokenTypeEmbeddings, EmbeddingNormWeight, EmbeddingNormBias }.Concat(
            Layers.SelectMany(l => new[] { l.AttentionNormWeight, l.AttentionNormBias, l.OutputNormWeight, l.OutputNormBias }));

    /// <summary>Writes the last hidden state [tokens × hidden] in the original channel order (a copy unless the model was reordered).</summary>
    private void ReadHiddenStates(ReadOnlySpan<float> states, Span<float> destination)
    {
        if (_residualOrder is not { } order)
        {
            states.CopyTo(destination);
            return;
        }
        int hidden = HiddenSize;
        for (int row = 0; row < states.Length; row += hidden)
            for (int p = 0; p < hidden; p++) destination[row + order[p]] = states[row + p];
    }

    private int[] ReadResidualOrder(float[] values)
    {
        var order = new int[values.Length];
        for (int p = 0; p < values.Length; p++)
        {
            if (values[p] != MathF.Round(values[p]))
                throw new ArgumentException($"{ResidualOrderName}: value {values[p]} at position {p} is not a channel index.");
            order[p] = (int)values[p];
        }
        ChannelPermutation.Check(order, HiddenSize, ResidualOrderName);
        return order;
    }
}
