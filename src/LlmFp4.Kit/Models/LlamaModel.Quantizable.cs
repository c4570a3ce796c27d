using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Models;

/// <summary>The LLaMA model as the calibrators see it (<see cref="IQuantizableModel"/>).</summary>
public sealed partial class LlamaModel
{
    /// <inheritdoc />
    public string Architecture => "llama";

    object IQuantizableModel.Config => Config;

    /// <inheritdoc />
    public NamedTensor TokenEmbedding => Embedding;

    /// <summary>
    /// Per decoder layer [q, k, v] (input: input_layernorm), [o], [gate, up] (input: post_attention_layernorm), [down];
    /// then [lm_head] (input: the final norm) when <paramref name="includeOutputHead"/>.
    /// </summary>
    public IReadOnlyList<LinearGroup> LinearGroups(bool includeOutputHead)
    {
        var groups = new List<LinearGroup>();
        foreach (var layer in Layers)
        {
            string prefix = $"model.layers.{layer.Index}";
            groups.Add(new($"{prefix}.self_attn.qkv_input", [layer.QProj, layer.KProj, layer.VProj], [layer.InputNorm]));
            groups.Add(new($"{prefix}.self_attn.o_proj_input", [layer.OProj]));
            groups.Add(new($"{prefix}.mlp.gate_up_input", [layer.GateProj, layer.UpProj], [layer.PostAttentionNorm]));
            groups.Add(new($"{prefix}.mlp.down_proj_input", [layer.DownProj]));
        }
        if (includeOutputHead) groups.Add(new("lm_head_input", [LmHead], [FinalNorm]));
        return groups;
    }

    /// <summary>Hidden channels, the o_proj input per layer (v_proj's rows reorder it) and the down_proj input (gate/up rows).</summary>
    public ChannelLayout ChannelLayout => new(Config.HiddenSize, Config.NumAttentionHeads, Config.KeyValueHeads, Config.HeadDim, Config.IntermediateSize,
        [.. Layers.Select(l => ($"model.layers.{l.Index}.self_attn.o_proj_input", $"model.layers.{l.Index}.mlp.down_proj_input"))]);

    /// <summary>
    /// Stages <c>model.layers.{i}</c> (one decoder block each), then <c>lm_head</c> (the final norm and the head, whose
    /// logits are discarded), each running the code of <see cref="Forward"/> on the workspace.
    /// </summary>
    public StagedForward StartStagedForward(IReadOnlyList<IReadOnlyList<int[]>> batches)
    {
        ArgumentNullException.ThrowIfNull(batches);
        foreach (var batch in batches) CheckSequences(batch);
        var stages = Layers.Select(layer => (new ForwardStage($"model.layers.{layer.Index}", layer.Linears, layer.AttentionMatMulPoints),
            (StagedForward.BatchStep)((sequences, tokens) => RunBlock(layer, sequences, tokens, cache: null)))).ToList();
        stages.Add((new ForwardStage("lm_head", [LmHead], []), (_, tokens) => RunHead(tokens, _workspace.EnsureLogits(tokens))));
        return new StagedForward(batches, Config.HiddenSize, tokens =>
        {
            _workspace.EnsureTokens(tokens);
            return _workspace.Residual;
        }, (sequences, tokens) => Embed(sequences, tokens), stages);
    }

    /// <summary>
    /// Replaces the embedding, norm weights and linear weights named in <paramref name="tensors"/>. A tied head that still
    /// shares the embedding array gets its own copy first when only the embedding is replaced, so that quantizing the
    /// embedding does not quantize the head.
    /// </summary>
    public void ReplaceParameters(IReadOnlyDictionary<string, float[]> tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var linears = Linears.ToDictionary(l => l.WeightName);
        var dense = Layers.SelectMany(l => new[] { l.InputNorm, l.PostAttentionNorm }).Append(FinalNorm).Append(Embedding).ToDictionary(n => n.Name);
        if (tensors.ContainsKey(Embedding.Name) && !tensors.ContainsKey(LmHead.WeightName) && ReferenceEquals(LmHead.Weight, Embedding.Data))
            LmHead.Weight = (float[])Embedding.Data.Clone();
        foreach (var (name, values) in tensors)
        {
            if (dense.TryGetValue(name, out var tensor)) tensor.Data = values;
            else if (linears.TryGetValue(name, out var linear)) linear.Weight = values;
            else throw new InvalidDataException($"tensor '{name}' is not a parameter of this LLaMA model.");
        }
    }

    /// <summary>
    /// The embedding's columns, every norm weight and the rows of o_proj and down_proj (the residual-stream producers)
    /// follow the residual order, and so do the columns of q/k/v, gate/up and lm_head (its consumers); v_proj's rows and
    /// o_proj's columns follow the attention order inside each head (P·V is per channel); gate/up rows and down_proj
    /// columns follow the MLP order (SiLU(g)·u is per channel). q/k are left alone (RoPE pairs their channels). lm_head is
    /// always included, so a tied head unties.
    /// </summary>
    public Dictionary<string, float[]> ReorderedWeights(ChannelOrder order)
    {
        ArgumentNullException.ThrowIfNull(order);
        int hidden = Config.HiddenSize, headDim = Config.HeadDim;
        ChannelPermutation.Check(order.Residual, hidden, "residual order");
        if (order.AttentionOutput.Count != Layers.Count || order.MlpHidden.Count != Layers.Count)
            throw new ArgumentException($"RPTQ order: {order.AttentionOutput.Count} attention and {order.MlpHidden.Count} MLP orders for {Layers.Count} layers.");
        var sigma = order.Residual;
        var layout = ChannelLayout;
        var tensors = new Dictionary<string, float[]>
        {
            [Embedding.Name] = ChannelPermutation.PermuteColumns(Embedding.Data, Config.VocabSize, hidden, sigma),
            [FinalNorm.Name] = ChannelPermutation.Permute(FinalNorm.Data, sigma),
            [LmHead.WeightName] = ChannelPermutation.PermuteColumns(LmHead.Weight, LmHead.OutFeatures, hidden, sigma),
        };
        foreach (var layer in Layers)
        {
            int i = layer.Index;
            var valueOrder = order.AttentionOutput[i];
            ChannelPermutation.Check(valueOrder, Config.KeyValueHeads * headDim, $"layer {i} attention order");
            ChannelPermutation.Check(order.MlpHidden[i], Config.IntermediateSize, $"layer {i} MLP order");
            var contextOrder = layout.ContextOrder(valueOrder);
            var mlp = order.MlpHidden[i];
            tensors[layer.InputNorm.Name] = ChannelPermutation.Permute(layer.InputNorm.Data, sigma);
            tensors[layer.PostAttentionNorm.Name] = ChannelPermutation.Permute(layer.PostAttentionNorm.Data, sigma);
            tensors[layer.QProj.WeightName] = ChannelPermutation.PermuteColumns(layer.QProj.Weight, layer.QProj.OutFeatures, hidden, sigma);
            tensors[layer.KProj.WeightName] = ChannelPermutation.PermuteColumns(layer.KProj.Weight, layer.KProj.OutFeatures, hidden, sigma);
            tensors[layer.VProj.WeightName] = ChannelPermutation.PermuteRows(
                ChannelPermutation.PermuteColumns(layer.VProj.Weight, layer.VProj.OutFeatures, hidden, sigma), hidden, valueOrder);
            tensors[layer.OProj.WeightName] = ChannelPermutation.PermuteRows(
                ChannelPermutation.PermuteColumns(layer.OProj.Weight, hidden, hidden, contextOrder), hidden, sigma);
            tensors[layer.GateProj.WeightName] = ChannelPermutation.PermuteRows(
                ChannelPermutation.PermuteColumns(layer.GateProj.Weight, layer.GateProj.OutFeatures, hidden, sigma), hidden, mlp);
            tensors[layer.UpProj.WeightName] = ChannelPermutation.PermuteRows(
                ChannelPermutation.PermuteColumns(layer.UpProj.Weight, layer.UpProj.OutFeatures, hidden, sigma), hidden, mlp);
            tensors[layer.DownProj.WeightName] = ChannelPermutation.PermuteRows(
                ChannelPermutation.PermuteColumns(layer.DownProj.Weight, hidden, Config.IntermediateSize, mlp), Config.IntermediateSize, sigma);
        }
        return tensors;
    }
}
