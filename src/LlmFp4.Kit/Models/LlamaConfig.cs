using System.Text.Json;
using System.Text.Json.Serialization;

namespace LlmFp4.Kit.Models;

/// <summary>
/// Shape of a LLaMA-architecture model, with the field names of a Hugging Face <c>config.json</c>
/// (<c>LlamaForCausalLM</c>, transformers' <c>LlamaConfig</c>). Every field of that class is applied or refused:
/// <c>head_dim</c> (equal to hidden_size / num_attention_heads; another value is refused), <c>attention_bias</c> and
/// <c>mlp_bias</c> (false; biased projections are refused), <c>rope_scaling</c> / <c>rope_parameters</c>
/// (<see cref="RopeScaling"/>), <c>tie_word_embeddings</c>, and <c>bos_token_id</c> / <c>eos_token_id</c> /
/// <c>pad_token_id</c> as an id or a list (<see cref="TokenIds"/>; generation stops at any EOS). Fields that do not
/// change the forward pass (<see cref="WithoutEffect"/>: initializer_range, use_cache, attention_dropout,
/// pretraining_tp, which only splits the same products, transformers' bookkeeping and generation defaults) are
/// accepted and not kept; any other field is refused naming it, since it may change the computation.
/// </summary>
public sealed record LlamaConfig
{
    /// <summary>vocab_size: rows of the token embedding and of lm_head.</summary>
    [JsonPropertyName("vocab_size")] public required int VocabSize { get; init; }
    /// <summary>hidden_size: the residual stream width d.</summary>
    [JsonPropertyName("hidden_size")] public required int HiddenSize { get; init; }
    /// <summary>intermediate_size: the MLP's inner width (gate_proj / up_proj outputs).</summary>
    [JsonPropertyName("intermediate_size")] public required int IntermediateSize { get; init; }
    /// <summary>num_hidden_layers: decoder blocks.</summary>
    [JsonPropertyName("num_hidden_layers")] public required int NumHiddenLayers { get; init; }
    /// <summary>num_attention_heads: query heads; hidden_size must be a multiple of it.</summary>
    [JsonPropertyName("num_attention_heads")] public required int NumAttentionHeads { get; init; }
    /// <summary>Key/value heads; fewer than <see cref="NumAttentionHeads"/> means grouped-query attention.</summary>
    [JsonPropertyName("num_key_value_heads")] public int? NumKeyValueHeads { get; init; }
    /// <summary>max_position_embeddings: the context length in tokens (rotary tables are built for it).</summary>
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 2048;
    /// <summary>rms_norm_eps: ε added to the mean square in every RMSNorm.</summary>
    [JsonPropertyName("rms_norm_eps")] public double RmsNormEps { get; init; } = 1e-6;
    /// <summary>rope_theta: the rotary base θ (10000 in LLaMA 1/2).</summary>
    [JsonPropertyName("rope_theta")] public double RopeTheta { get; init; } = 10000.0;
    /// <summary>tie_word_embeddings: lm_head reuses the embedding matrix.</summary>
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; }
    /// <summary>bos_token_id: the beginning-of-sequence id(s).</summary>
    [JsonPropertyName("bos_token_id")] public TokenIds? BosTokenId { get; init; }
    /// <summary>eos_token_id: the end-of-sequence id(s); generation stops at any of them.</summary>
    [JsonPropertyName("eos_token_id")] public TokenIds? EosTokenId { get; init; }
    /// <summary>pad_token_id: the padding id(s), if any; written only when set.</summary>
    [JsonPropertyName("pad_token_id"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public TokenIds? PadTokenId { get; init; }

    /// <summary>Size of each attention head; when given it must equal hidden_size / num_attention_heads.</summary>
    [JsonPropertyName("head_dim"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? ConfiguredHeadDim { get; init; }

    /// <summary>Biases on q, k, v and o_proj; only false is supported.</summary>
    [JsonPropertyName("attention_bias"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public bool AttentionBias { get; init; }

    /// <summary>Biases on gate, up and down_proj; only false is supported.</summary>
    [JsonPropertyName("mlp_bias"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public bool MlpBias { get; init; }

    /// <summary>rope_scaling: the rotary rescaling (linear, dynamic, yarn or llama3), if any.</summary>
    [JsonPropertyName("rope_scaling"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public RopeScaling? RopeScaling { get; init; }

    /// <summary>transformers 5's name for rope_scaling (may carry rope_theta too).</summary>
    [JsonPropertyName("rope_parameters"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public RopeScaling? RopeParameters { get; init; }
    /// <summary>hidden_act: the MLP activation; only "silu" (SwiGLU) is supported.</summary>
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "silu";
    /// <summary>model_type: "llama".</summary>
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "llama";
    /// <summary>architectures: the transformers class names, ["LlamaForCausalLM"].</summary>
    [JsonPropertyName("architectures")] public string[] Architectures { get; init; } = ["LlamaForCausalLM"];
    /// <summary>torch_dtype: the stored dtype as transformers names it ("float32", "float16", "bfloat16").</summary>
    [JsonPropertyName("torch_dtype")] public string TorchDtype { get; init; } = "float32";

    /// <summary>Key/value heads in force: <see cref="NumKeyValueHeads"/>, else <see cref="NumAttentionHeads"/> (no grouping).</summary>
    [JsonIgnore] public int KeyValueHeads => NumKeyValueHeads ?? NumAttentionHeads;
    /// <summary>Size of each attention head: hidden_size / num_attention_heads.</summary>
    [JsonIgnore] public int HeadDim => HiddenSize / NumAttentionHeads;

    /// <summary>The rotary rescaling in force: rope_parameters, else rope_scaling.</summary>
    [JsonIgnore] public RopeScaling? EffectiveRopeScaling => RopeParameters ?? RopeScaling;

    /// <summary>The rotary base in force: rope_parameters' rope_theta when it has one, else rope_theta.</summary>
    [JsonIgnore] public double EffectiveRopeTheta => EffectiveRopeScaling?.RopeTheta ?? RopeTheta;

    /// <summary>
    /// config.json fields that do not change what the model computes, accepted and not kept: transformers'
    /// bookkeeping, generation defaults (the generate command's options rule instead) and training-only settings.
    /// </summary>
    public static IReadOnlySet<string> WithoutEffect { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        "initializer_range", "use_cache", "attention_dropout", "pretraining_tp", "transformers_version", "_name_or_path",
        "_commit_hash", "_attn_implementation", "_attn_implementation_autoset", "dtype", "use_bfloat16", "return_dict",
        "output_hidden_states", "output_attentions", "torchscript", "tf_legacy_loss", "chunk_size_feed_forward",
        "is_decoder", "tie_encoder_decoder", "cross_attention_hidden_size", "finetuning_task", "id2label", "label2id",
        "num_labels", "problem_type", "tokenizer_class", "prefix", "task_specific_params", "auto_map", "sep_token_id",
        "decoder_start_token_id", "max_length", "min_length", "do_sample", "early_stopping", "num_beams",
        "num_beam_groups", "diversity_penalty", "temperature", "top_k", "top_p", "typical_p", "repetition_penalty",
        "length_penalty", "no_repeat_ngram_size", "encoder_no_repeat_ngram_size", "bad_words_ids",
        "num_return_sequences", "output_scores", "return_dict_in_generate", "forced_bos_token_id",
        "forced_eos_token_id", "remove_invalid_values", "exponential_decay_length_penalty", "suppress_tokens",
        "begin_suppress_tokens",
    };

    /// <summary>Fields that change nothing at one value only (e.g. add_cross_attention = false); another value is refused.</summary>
    private static readonly Dictionary<string, Func<JsonElement, bool>> WithoutEffectAt = new(StringComparer.Ordinal)
    {
        ["add_cross_attention"] = v => v.ValueKind == JsonValueKind.False,
        ["is_encoder_decoder"] = v => v.ValueKind == JsonValueKind.False,
        ["pruned_heads"] = v => v.ValueKind == JsonValueKind.Object && !v.EnumerateObject().Any(),
        ["partial_rotary_factor"] = v => v.ValueKind == JsonValueKind.Number && v.GetDouble() == 1.0,
    };

    private static readonly HashSet<string> Applied = [.. typeof(LlamaConfig).GetProperties()
        .Select(p => p.GetCustomAttributes(typeof(JsonPropertyNameAttribute), false).OfType<JsonPropertyNameAttribute>().FirstOrDefault()?.Name)
        .OfType<string>()];

    /// <summary>Throws <see cref="ArgumentException"/> naming the first inconsistent field.</summary>
    public void Validate()
    {
        static void Positive(int value, string name)
        {
            if (value <= 0) throw new ArgumentException($"config: {name} must be positive, got {value}.");
        }
        Positive(VocabSize, "vocab_size");
        Positive(HiddenSize, "hidden_size");
        Positive(IntermediateSize, "intermediate_size");
        Positive(NumHiddenLayers, "num_hidden_layers");
        Positive(NumAttentionHeads, "num_attention_heads");
        Positive(KeyValueHeads, "num_key_value_heads");
        Positive(MaxPositionEmbeddings, "max_position_embeddings");
        if (HiddenSize % NumAttentionHeads != 0)
            throw new ArgumentException($"config: hidden_size {HiddenSize} is not divisible by num_attention_heads {NumAttentionHeads}.");
        if (HeadDim % 2 != 0)
            throw new ArgumentException($"config: head dimension {HeadDim} must be even for rotary embeddings.");
        if (NumAttentionHeads % KeyValueHeads != 0)
            throw new ArgumentException($"config: num_attention_heads {NumAttentionHeads} is not a multiple of num_key_value_heads {KeyValueHeads}.");
        if (HiddenAct != "silu")
            throw new ArgumentException($"config: hidden_act '{HiddenAct}' is not supported (only 'silu').");
        if (ConfiguredHeadDim is int headDim && headDim != HeadDim)
            throw new ArgumentException(
                $"config: head_dim {headDim} differs from hidden_size / num_attention_heads = {HeadDim}; the kit's runtime needs them equal.");
        if (AttentionBias)
            throw new ArgumentException("config: attention_bias = true (biased q/k/v/o projections) is not supported.");
        if (MlpBias)
            throw new ArgumentException("config: mlp_bias = true (biased gate/up/down projections) is not supported.");
        if (RopeScaling is not null && RopeParameters is not null && RopeScaling != RopeParameters)
            throw new ArgumentException("config: rope_scaling and rope_parameters disagree; give one.");
        if (!(EffectiveRopeTheta > 0))
            throw new ArgumentException($"config: rope_theta must be positive, got {EffectiveRopeTheta}.");
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    /// <summary>This config as an indented Hugging Face config.json.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>
    /// Parses a <c>config.json</c>; <paramref name="source"/> names the file in error messages, which also name the field
    /// refused (see the class remarks).
    /// </summary>
    public static LlamaConfig FromJson(string json, string source = "config.json")
    {
        LlamaConfig? config;
        try
        {
            using (var document = JsonDocument.Parse(json))
                if (document.RootElement.ValueKind == JsonValueKind.Object)
                    foreach (var field in document.RootElement.EnumerateObject())
                        if (!Applied.Contains(field.Name) && !WithoutEffect.Contains(field.Name)
                            && !(WithoutEffectAt.TryGetValue(field.Name, out var harmless) && harmless(field.Value)))
                            throw new InvalidDataException(
                                $"{source}: field {field.Name} = {Shorten(field.Value.GetRawText())} is not supported: the kit does not apply it and it may change the model's computation.");
            config = JsonSerializer.Deserialize<LlamaConfig>(json);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{source}: not a valid LLaMA config ({ex.Message})", ex);
        }
        if (config is null) throw new InvalidDataException($"{source}: empty config.");
        try { config.Validate(); }
        catch (ArgumentException ex) { throw new InvalidDataException($"{source}: {ex.Message}", ex); }
        return config;
    }

    private static string Shorten(string text) => text.Length <= 60 ? text : text[..57] + "...";
}
