namespace LlmFp4.Kit.Models.Loading;

/// <summary>
/// karpathy/llama2.c checkpoints as <c>run.c</c> reads them (export.py's legacy version 0): seven int32
/// (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a negative vocab_size means an
/// untied classifier), then float32 arrays, each stacked over layers: token_embedding_table,
/// rms_att_weight, wq, wk, wv, wo, rms_ffn_weight, w1 (gate), w2 (down), w3 (up), rms_final_weight,
/// freq_cis_real and freq_cis_imag (seq_len × head_size/2 each, unused: RoPE is recomputed), wcls if untied.
/// <para>
/// q/k rows are in adjacent-pair RoPE order: llama2.c's own models use Meta's complex-number RoPE, and
/// export.py's Hugging Face import applies <c>permute_reverse</c> to q and k to get there. The loader
/// restores Hugging Face order with <see cref="RopeLayout.FromInterleaved"/> (k with n_kv_heads heads).
/// <c>run.c</c> fixes the RMSNorm epsilon at 1e-5 and the RoPE base at 10000; the config says so.
/// </para>
/// </summary>
public static class Llama2cCheckpoint
{
    private const int HeaderInts = 7;
    private const int HeaderBytes = HeaderInts * sizeof(int);
    /// <summary>"ak42": the magic of export.py's version 1 and 2 files, which <c>run.c</c> does not read.</summary>
    private const uint VersionedMagic = 0x616b3432;
    /// <summary>The RMSNorm ε that <c>run.c</c> hard-codes.</summary>
    public const double RmsNormEps = 1e-5;
    /// <summary>The RoPE base that <c>run.c</c> hard-codes.</summary>
    public const double RopeTheta = 10000.0;

    /// <summary>One float32 array of the file, in file order; <see cref="HfName"/> is null for the skipped RoPE tables.</summary>
    private sealed record Section(string StoredName, string? HfName, int[] Shape);

    private static readonly (string Suffix, string RunCName)[] LayerSections =
    [
        ("input_layernorm.weight", "rms_att_weight"),
        ("self_attn.q_proj.weight", "wq"),
        ("self_attn.k_proj.weight", "wk"),
        ("self_attn.v_proj.weight", "wv"),
        ("self_attn.o_proj.weight", "wo"),
        ("post_attention_layernorm.weight", "rms_ffn_weight"),
        ("mlp.gate_proj.weight", "w1"),
        ("mlp.down_proj.weight", "w2"),
        ("mlp.up_proj.weight", "w3"),
    ];

    private static List<Section> Sections(LlamaConfig config)
    {
        var shapes = LlamaTensorLayout.Expected(config).ToDictionary(e => e.Name, e => e.Shape);
        var sections = new List<Section> { new("token_embedding_table", LlamaTensorLayout.Embedding, shapes[LlamaTensorLayout.Embedding]) };
        foreach (var (suffix, runCName) in LayerSections)
            for (int layer = 0; layer < config.NumHiddenLayers; layer++)
            {
                string name = LlamaTensorLayout.Layer(layer, suffix);
                sections.Add(new($"{runCName}[{layer}]", name, shapes[name]));
            }
        sections.Add(new("rms_final_weight", LlamaTensorLayout.FinalNorm, shapes[LlamaTensorLayout.FinalNorm]));
        int[] ropeTable = [config.MaxPositionEmbeddings, config.HeadDim / 2];
        sections.Add(new("freq_cis_real", null, ropeTable));
        sections.Add(new("freq_cis_imag", null, ropeTable));
        if (!config.TieWordEmbeddings) sections.Add(new("wcls", LlamaTensorLayout.LmHead, shapes[LlamaTensorLayout.LmHead]));
        return sections;
    }

    /// <summary>Opens the llama2.c checkpoint at <paramref name="path"/> (memory-mapped; dispose the checkpoint to unmap it).</summary>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">A file too short for its header or its tensors, a version 1/2 export, or an invalid header; the message names the file.</exception>
    public static LlamaCheckpoint Open(string path)
    {
        var file = MappedFile.Open(path);
        try
        {
            var config = ReadConfig(file);
            long expectedLength;
            try
            {
                long ropeTables = 2L * config.MaxPositionEmbeddings * (config.HeadDim / 2);
                expectedLength = checked(HeaderBytes + (LlamaTensorLayout.ParameterCount(config) + ropeTables) * sizeof(float));
            }
            catch (OverflowException)
            {
                expectedLength = long.MaxValue;
            }
            if (file.Length != expectedLength)
                throw new InvalidDataException(
                    $"{path}: file has {file.Length} bytes but its header (dim {config.HiddenSize}, hidden_dim {config.IntermediateSize}, " +
                    $"n_layers {config.NumHiddenLayers}, n_heads {config.NumAttentionHeads}, n_kv_heads {config.KeyValueHeads}, " +
                    $"vocab_size {config.VocabSize}{(config.TieWordEmbeddings ? "" : " untied")}, seq_len {config.MaxPositionEmbeddings}) " +
                    $"implies {expectedLength} bytes ({(file.Length < expectedLength ? "truncated" : "trailing data")}; not a llama2.c run.c checkpoint?).");
            var found = new Dictionary<string, CheckpointTensor>();
            long offset = HeaderBytes;
            foreach (var section in Sections(config))
            {
                if (section.HfName is { } name)
                    found[name] = new CheckpointTensor
                    {
                        Name = name, StoredName = section.StoredName, Shape = section.Shape, DType = DType.F32,
                        File = path, Offset = offset, Mapped = file,
                        InterleavedRopeHeads = LlamaTensorLayout.RotaryHeads(config, name),
                    };
                offset += LlamaTensorLayout.ElementCount(section.Shape) * sizeof(float);
            }
            return new LlamaCheckpoint(config, path, CheckpointFormat.Llama2c, [file], found, name => "not in the llama2.c layout");
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static LlamaConfig ReadConfig(MappedFile file)
    {
        string path = file.Path;
        if (file.Length < HeaderBytes)
            throw new InvalidDataException($"{path}: {file.Length} bytes is too short for a llama2.c header ({HeaderBytes} bytes).");
        var cursor = new ByteCursor(file);
        if (BitConverter.ToUInt32(file.Bytes(0, 4)) == VersionedMagic)
            throw new InvalidDataException($"{path}: a llama2.c version 1/2 export (magic 'ak42'); only the legacy version 0 layout that run.c reads is supported.");
        int dim = cursor.I32("dim"), hiddenDim = cursor.I32("hidden_dim"), layers = cursor.I32("n_layers"),
            heads = cursor.I32("n_heads"), kvHeads = cursor.I32("n_kv_heads"), vocab = cursor.I32("vocab_size"), seqLen = cursor.I32("seq_len");
        if (vocab == int.MinValue) throw new InvalidDataException($"{path}: vocab_size {vocab} is invalid.");
        var config = new LlamaConfig
        {
            VocabSize = Math.Abs(vocab),
            HiddenSize = dim,
            IntermediateSize = hiddenDim,
            NumHiddenLayers = layers,
            NumAttentionHeads = heads,
            NumKeyValueHeads = kvHeads,
            MaxPositionEmbeddings = seqLen,
            RmsNormEps = RmsNormEps,
            RopeTheta = RopeTheta,
            TieWordEmbeddings = vocab > 0,
        };
        try { config.Validate(); }
        catch (ArgumentException ex) { throw new InvalidDataException($"{path}: header is not a valid llama2.c header: {ex.Message}", ex); }
        return config;
    }

    /// <summary>
    /// Writes a run.c checkpoint. The format has no room for an RMSNorm epsilon or RoPE base, so the config
    /// must use run.c's fixed 1e-5 and 10000; q/k rows are written in adjacent-pair order, and the unused
    /// RoPE tables hold cos/sin of <c>position × base^(-2i/head_size)</c> as llama2.c's export does.
    /// </summary>
    public static void Save(string path, LlamaConfig config, IReadOnlyDictionary<string, float[]> weights)
    {
        LlamaTensorLayout.CheckWeights(config, weights);
        if (config.RmsNormEps != RmsNormEps || config.RopeTheta != RopeTheta)
            throw new ArgumentException(
                $"{path}: llama2.c fixes rms_norm_eps = {RmsNormEps} and rope_theta = {RopeTheta}; the config has {config.RmsNormEps} and {config.RopeTheta}.");
        AtomicFile.Write(path, stream =>
        {
            using var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
            int[] header =
            [
                config.HiddenSize, config.IntermediateSize, config.NumHiddenLayers, config.NumAttentionHeads,
                config.KeyValueHeads, config.TieWordEmbeddings ? config.VocabSize : -config.VocabSize, config.MaxPositionEmbeddings,
            ];
            foreach (int value in header) writer.Write(value);
            writer.Flush();
            foreach (var section in Sections(config))
            {
                float[] values = section.HfName is { } name ? StoredOrder(config, name, weights[name]) : RopeTable(config, section.StoredName);
                new TensorToWrite(section.StoredName, section.Shape, values, DType.F32).WriteData(stream);
            }
        });
    }

    private static float[] StoredOrder(LlamaConfig config, string name, float[] values)
    {
        int heads = LlamaTensorLayout.RotaryHeads(config, name);
        if (heads == 0) return values;
        var interleaved = new float[values.Length];
        RopeLayout.ToInterleaved(values, heads, config.HiddenSize, interleaved);
        return interleaved;
    }

    private static float[] RopeTable(LlamaConfig config, string storedName)
    {
        int half = config.HeadDim / 2;
        var table = new float[config.MaxPositionEmbeddings * half];
        for (int position = 0; position < config.MaxPositionEmbeddings; position++)
            for (int i = 0; i < half; i++)
            {
                double angle = position * Math.Pow(RopeTheta, -2.0 * i / config.HeadDim);
                table[position * half + i] = (float)(storedName == "freq_cis_real" ? Math.Cos(angle) : Math.Sin(angle));
            }
        return table;
    }
}
