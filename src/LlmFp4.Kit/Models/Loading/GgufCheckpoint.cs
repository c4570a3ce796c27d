namespace LlmFp4.Kit.Models.Loading;

/// <summary>
/// Maps a GGUF file with <c>general.architecture = llama</c> to a <see cref="LlamaCheckpoint"/>:
/// <c>llama.*</c> metadata to <see cref="LlamaConfig"/>, llama.cpp tensor names to Hugging Face names,
/// ggml dimension order to row-major shapes, and q/k rows back from llama.cpp's adjacent-pair RoPE order.
/// </summary>
public static class GgufCheckpoint
{
    private const string Architecture = "llama";

    private static readonly (string Hf, string Gguf)[] LayerNames =
    [
        ("input_layernorm.weight", "attn_norm.weight"),
        ("self_attn.q_proj.weight", "attn_q.weight"),
        ("self_attn.k_proj.weight", "attn_k.weight"),
        ("self_attn.v_proj.weight", "attn_v.weight"),
        ("self_attn.o_proj.weight", "attn_output.weight"),
        ("post_attention_layernorm.weight", "ffn_norm.weight"),
        ("mlp.gate_proj.weight", "ffn_gate.weight"),
        ("mlp.up_proj.weight", "ffn_up.weight"),
        ("mlp.down_proj.weight", "ffn_down.weight"),
    ];

    /// <summary>llama.cpp's name for a Hugging Face tensor name (<c>model.layers.3.mlp.up_proj.weight</c> → <c>blk.3.ffn_up.weight</c>).</summary>
    public static string ToGgufName(string hfName)
    {
        switch (hfName)
        {
            case LlamaTensorLayout.Embedding: return "token_embd.weight";
            case LlamaTensorLayout.FinalNorm: return "output_norm.weight";
            case LlamaTensorLayout.LmHead: return "output.weight";
        }
        const string prefix = "model.layers.";
        if (hfName.StartsWith(prefix, StringComparison.Ordinal))
        {
            int dot = hfName.IndexOf('.', prefix.Length);
            if (dot > prefix.Length)
            {
                string layer = hfName[prefix.Length..dot], suffix = hfName[(dot + 1)..];
                foreach (var (hf, gguf) in LayerNames)
                    if (suffix == hf) return $"blk.{layer}.{gguf}";
            }
        }
        throw new ArgumentException($"no GGUF name for tensor {hfName}.");
    }

    /// <summary>Opens the GGUF file at <paramref name="path"/> (memory-mapped; dispose the checkpoint to unmap it).</summary>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">Not a valid GGUF file, another architecture than llama, missing or inconsistent <c>llama.*</c> metadata, RoPE scaling the kit does not apply, or a missing, misshapen or truncated tensor; the message names the file and the key or tensor at fault.</exception>
    public static LlamaCheckpoint Open(string path)
    {
        var file = MappedFile.Open(path);
        try
        {
            var gguf = GgufReader.Read(file);
            var config = ReadConfig(gguf);
            LlamaTensorLayout.CheckFits(config, file.Length, path);
            var byName = gguf.Tensors.ToDictionary(t => t.Name);
            var found = new Dictionary<string, CheckpointTensor>();
            foreach (var (name, _) in LlamaTensorLayout.Expected(config))
            {
                if (!byName.TryGetValue(ToGgufName(name), out var info)) continue;
                if (GgufReader.ToDType(info.Type) is not { } dtype)
                    throw new InvalidDataException(
                        $"{path}: unsupported tensor type {GgufReader.TypeName(info.Type)} for tensor {info.Name} (only F32, F16 and BF16 are read).");
                found[name] = new CheckpointTensor
                {
                    Name = name, StoredName = info.Name, Shape = IntShape(path, info), DType = dtype,
                    File = path, Offset = info.Offset, Mapped = file,
                    InterleavedRopeHeads = LlamaTensorLayout.RotaryHeads(config, name),
                };
            }
            return new LlamaCheckpoint(config, path, CheckpointFormat.Gguf, [file], found,
                name => $"no GGUF tensor {ToGgufName(name)}");
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static LlamaConfig ReadConfig(GgufFile gguf)
    {
        string path = gguf.Path;
        var metadata = gguf.Metadata;
        if (!metadata.TryGetValue("general.architecture", out var architecture) || architecture is not string arch)
            throw new InvalidDataException($"{path}: missing string metadata general.architecture.");
        if (arch != Architecture)
            throw new InvalidDataException($"{path}: architecture '{arch}' is not supported (only '{Architecture}').");

        int? OptionalInteger(string key)
        {
            if (!metadata.TryGetValue($"{arch}.{key}", out var value)) return null;
            return GgufReader.AsInteger(value) is long v && v is > 0 and <= int.MaxValue
                ? (int)v
                : throw new InvalidDataException($"{path}: metadata {arch}.{key} = {value} is not a positive integer.");
        }
        int Integer(string key) =>
            OptionalInteger(key) ?? throw new InvalidDataException($"{path}: missing metadata {arch}.{key}.");
        double? Real(string key) =>
            !metadata.TryGetValue($"{arch}.{key}", out var value) ? null
            : GgufReader.AsDouble(value) ?? throw new InvalidDataException($"{path}: metadata {arch}.{key} = {value} is not a number.");
        TokenIds? TokenId(string key) => metadata.TryGetValue(key, out var value) && GgufReader.AsInteger(value) is long id ? (int)id : null;

        int heads = Integer("attention.head_count");
        var config = new LlamaConfig
        {
            VocabSize = VocabSize(gguf),
            HiddenSize = Integer("embedding_length"),
            IntermediateSize = Integer("feed_forward_length"),
            NumHiddenLayers = Integer("block_count"),
            NumAttentionHeads = heads,
            NumKeyValueHeads = OptionalInteger("attention.head_count_kv") ?? heads,
            TieWordEmbeddings = !gguf.Tensors.Any(t => t.Name == ToGgufName(LlamaTensorLayout.LmHead)),
            BosTokenId = TokenId("tokenizer.ggml.bos_token_id"),
            EosTokenId = TokenId("tokenizer.ggml.eos_token_id"),
        };
        config = config with
        {
            MaxPositionEmbeddings = OptionalInteger("context_length") ?? config.MaxPositionEmbeddings,
            RmsNormEps = Real("attention.layer_norm_rms_epsilon") ?? config.RmsNormEps,
            RopeTheta = Real("rope.freq_base") ?? config.RopeTheta,
        };
        try { config.Validate(); }
        catch (ArgumentException ex) { throw new InvalidDataException($"{path}: {ex.Message}", ex); }
        int rotaryDims = OptionalInteger("rope.dimension_count") ?? config.HeadDim;
        if (rotaryDims != config.HeadDim)
            throw new InvalidDataException($"{path}: {arch}.rope.dimension_count {rotaryDims} differs from the head dimension {config.HeadDim} (partial rotary is not supported).");
        foreach (string key in new[] { "attention.key_length", "attention.value_length" })
            if (OptionalInteger(key) is int length && length != config.HeadDim)
                throw new InvalidDataException($"{path}: {arch}.{key} {length} differs from embedding_length / head_count = {config.HeadDim}; the kit's runtime needs them equal.");
        // RoPE scaling changes every position's frequencies; llama.cpp keeps Llama 3.1's as the rope_freqs tensor.
        if (metadata.TryGetValue($"{arch}.rope.scaling.type", out var scaling) && !Equals(scaling, "none"))
            throw new InvalidDataException($"{path}: {arch}.rope.scaling.type '{scaling}' is not supported (RoPE scaling is read from a Hugging Face config.json).");
        if (gguf.Tensors.Any(t => t.Name == "rope_freqs.weight"))
            throw new InvalidDataException($"{path}: tensor rope_freqs.weight (per-frequency RoPE factors, Llama 3.1's rope scaling) is not supported in GGUF files; use the Hugging Face folder.");
        return config;
    }

    private static int[] IntShape(string path, GgufTensorInfo info) =>
        info.Shape.Select(d => d <= int.MaxValue ? (int)d
            : throw new InvalidDataException($"{path}: tensor {info.Name} has a dimension of {d}, more than the kit's arrays hold.")).ToArray();

    /// <summary>From the tokenizer's token list, else <c>llama.vocab_size</c>, else the embedding's row count.</summary>
    private static int VocabSize(GgufFile gguf)
    {
        if (gguf.Metadata.TryGetValue("tokenizer.ggml.tokens", out var tokens) && tokens is string[] list) return list.Length;
        if (gguf.Metadata.TryGetValue($"{Architecture}.vocab_size", out var size) && GgufReader.AsInteger(size) is long v && v is > 0 and <= int.MaxValue)
            return (int)v;
        var embedding = gguf.Tensors.FirstOrDefault(t => t.Name == ToGgufName(LlamaTensorLayout.Embedding))
            ?? throw new InvalidDataException($"{gguf.Path}: no tokenizer.ggml.tokens, {Architecture}.vocab_size or token_embd.weight to size the vocabulary.");
        return IntShape(gguf.Path, embedding).FirstOrDefault();
    }
}
