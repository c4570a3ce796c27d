namespace LlmFp4.Kit.Models.Loading;

/// <summary>
/// The tensors a LLaMA checkpoint must hold, by their Hugging Face names, with row-major shapes
/// (<c>[out, in]</c> for linear weights), in the order the model uses them.
/// </summary>
public static class LlamaTensorLayout
{
    /// <summary>The token embedding, [vocab × hidden].</summary>
    public const string Embedding = "model.embed_tokens.weight";
    /// <summary>The final RMSNorm gain, [hidden].</summary>
    public const string FinalNorm = "model.norm.weight";
    /// <summary>The output projection, [vocab × hidden]; absent when tie_word_embeddings is true.</summary>
    public const string LmHead = "lm_head.weight";

    /// <summary>The name of a per-layer tensor, <c>model.layers.{layer}.{suffix}</c>.</summary>
    public static string Layer(int layer, string suffix) => $"model.layers.{layer}.{suffix}";

    /// <summary>Per-layer tensors as <c>model.layers.{i}.</c> suffixes.</summary>
    public static readonly IReadOnlyList<string> LayerSuffixes =
    [
        "input_layernorm.weight",
        "self_attn.q_proj.weight",
        "self_attn.k_proj.weight",
        "self_attn.v_proj.weight",
        "self_attn.o_proj.weight",
        "post_attention_layernorm.weight",
        "mlp.gate_proj.weight",
        "mlp.up_proj.weight",
        "mlp.down_proj.weight",
    ];

    /// <summary>Every tensor <paramref name="config"/> calls for; <c>lm_head.weight</c> only when untied.</summary>
    public static IReadOnlyList<(string Name, int[] Shape)> Expected(LlamaConfig config)
    {
        int hidden = config.HiddenSize, headDim = config.HeadDim;
        int qRows = config.NumAttentionHeads * headDim, kvRows = config.KeyValueHeads * headDim;
        var shapes = new Dictionary<string, int[]>
        {
            ["input_layernorm.weight"] = [hidden],
            ["self_attn.q_proj.weight"] = [qRows, hidden],
            ["self_attn.k_proj.weight"] = [kvRows, hidden],
            ["self_attn.v_proj.weight"] = [kvRows, hidden],
            ["self_attn.o_proj.weight"] = [hidden, qRows],
            ["post_attention_layernorm.weight"] = [hidden],
            ["mlp.gate_proj.weight"] = [config.IntermediateSize, hidden],
            ["mlp.up_proj.weight"] = [config.IntermediateSize, hidden],
            ["mlp.down_proj.weight"] = [hidden, config.IntermediateSize],
        };
        var expected = new List<(string, int[])> { (Embedding, [config.VocabSize, hidden]) };
        for (int layer = 0; layer < config.NumHiddenLayers; layer++)
            foreach (var suffix in LayerSuffixes) expected.Add((Layer(layer, suffix), shapes[suffix]));
        expected.Add((FinalNorm, [hidden]));
        if (!config.TieWordEmbeddings) expected.Add((LmHead, [config.VocabSize, hidden]));
        return expected;
    }

    /// <summary>
    /// Elements of all <see cref="Expected"/> tensors, from the config alone (no per-tensor list), so a
    /// corrupt header can be checked against the file size before anything is allocated.
    /// Throws <see cref="OverflowException"/> for absurd configs.
    /// </summary>
    public static long ParameterCount(LlamaConfig config)
    {
        checked
        {
            long hidden = config.HiddenSize, intermediate = config.IntermediateSize, headDim = config.HeadDim;
            long qRows = config.NumAttentionHeads * headDim, kvRows = config.KeyValueHeads * headDim;
            long perLayer = 2 * hidden + qRows * hidden + 2 * kvRows * hidden + hidden * qRows + 3 * intermediate * hidden;
            long embedding = (long)config.VocabSize * hidden;
            return embedding + config.NumHiddenLayers * perLayer + hidden + (config.TieWordEmbeddings ? 0 : embedding);
        }
    }

    /// <summary>
    /// Throws <see cref="InvalidDataException"/> when <paramref name="config"/> calls for more weights than
    /// <paramref name="bytesAvailable"/> could hold at two bytes each: a corrupt header, caught before allocating.
    /// </summary>
    internal static void CheckFits(LlamaConfig config, long bytesAvailable, string source)
    {
        long parameters;
        try { parameters = ParameterCount(config); }
        catch (OverflowException) { parameters = long.MaxValue; }
        if (parameters > bytesAvailable / 2)
            throw new InvalidDataException(
                $"{source}: the config calls for {(parameters == long.MaxValue ? "an absurd number of" : parameters.ToString())} weights, " +
                $"more than {bytesAvailable} bytes of files can hold (corrupt header or truncated file).");
    }

    /// <summary>
    /// Heads whose rows a q or k projection rotates: <see cref="LlamaConfig.NumAttentionHeads"/> for
    /// <c>q_proj</c>, <see cref="LlamaConfig.KeyValueHeads"/> for <c>k_proj</c>, 0 for any other tensor.
    /// </summary>
    public static int RotaryHeads(LlamaConfig config, string name) =>
        name.EndsWith(".self_attn.q_proj.weight", StringComparison.Ordinal) ? config.NumAttentionHeads
        : name.EndsWith(".self_attn.k_proj.weight", StringComparison.Ordinal) ? config.KeyValueHeads
        : 0;

    /// <summary>
    /// Checks that <paramref name="weights"/> holds exactly the tensors <paramref name="config"/> calls
    /// for, each with the right number of elements; throws <see cref="ArgumentException"/> naming the first that does not.
    /// </summary>
    public static void CheckWeights(LlamaConfig config, IReadOnlyDictionary<string, float[]> weights)
    {
        config.Validate();
        var expected = Expected(config);
        foreach (var (name, shape) in expected)
        {
            if (!weights.TryGetValue(name, out var values))
                throw new ArgumentException($"weights: missing tensor {name} (expected shape {FormatShape(shape)}).");
            long count = ElementCount(shape);
            if (values.Length != count)
                throw new ArgumentException($"weights: tensor {name} has {values.Length} values, expected {count} for shape {FormatShape(shape)}.");
        }
        var known = expected.Select(e => e.Name).ToHashSet();
        var extra = weights.Keys.FirstOrDefault(name => !known.Contains(name));
        if (extra is not null)
            throw new ArgumentException($"weights: unexpected tensor {extra} for this config" +
                (extra == LmHead ? " (tie_word_embeddings is true)." : "."));
    }

    internal static long ElementCount(ReadOnlySpan<int> shape)
    {
        long count = 1;
        foreach (int dim in shape) count *= dim;
        return count;
    }

    internal static string FormatShape(IEnumerable<long> shape) => "[" + string.Join(", ", shape) + "]";
    internal static string FormatShape(IEnumerable<int> shape) => "[" + string.Join(", ", shape) + "]";
}
