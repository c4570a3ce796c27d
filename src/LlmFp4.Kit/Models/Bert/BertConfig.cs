using System.Text.Json;
using System.Text.Json.Serialization;

namespace LlmFp4.Kit.Models.Bert;

/// <summary>
/// Shape of a BERT encoder, with the field names of a Hugging Face <c>config.json</c> (<c>BertModel</c>), so a
/// config file round-trips unchanged. Dropout probabilities and the initializer range are carried for
/// completeness; inference ignores them.
/// </summary>
public sealed record BertConfig
{
    /// <summary>architectures: the transformers class names, ["BertModel"].</summary>
    [JsonPropertyName("architectures")] public string[] Architectures { get; init; } = ["BertModel"];
    /// <summary>model_type: must be "bert".</summary>
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "bert";
    /// <summary>vocab_size: rows of the word embedding.</summary>
    [JsonPropertyName("vocab_size")] public required int VocabSize { get; init; }
    /// <summary>hidden_size: the hidden width d.</summary>
    [JsonPropertyName("hidden_size")] public required int HiddenSize { get; init; }
    /// <summary>num_hidden_layers: encoder layers.</summary>
    [JsonPropertyName("num_hidden_layers")] public required int NumHiddenLayers { get; init; }
    /// <summary>num_attention_heads: attention heads; hidden_size must be a multiple of it.</summary>
    [JsonPropertyName("num_attention_heads")] public required int NumAttentionHeads { get; init; }
    /// <summary>intermediate_size: the feed-forward inner width.</summary>
    [JsonPropertyName("intermediate_size")] public required int IntermediateSize { get; init; }
    /// <summary>hidden_act: the feed-forward activation; only "gelu" (the erf form) is supported.</summary>
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "gelu";
    /// <summary>max_position_embeddings: rows of the position embedding, the longest input in tokens (512 in BERT).</summary>
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 512;
    /// <summary>type_vocab_size: rows of the token-type (segment) embedding.</summary>
    [JsonPropertyName("type_vocab_size")] public int TypeVocabSize { get; init; } = 2;
    /// <summary>layer_norm_eps: ε added to the variance in every LayerNorm (1e-12 in BERT).</summary>
    [JsonPropertyName("layer_norm_eps")] public double LayerNormEps { get; init; } = 1e-12;
    /// <summary>pad_token_id: the padding id.</summary>
    [JsonPropertyName("pad_token_id")] public int PadTokenId { get; init; }
    /// <summary>position_embedding_type: only "absolute" (learned positions) is supported.</summary>
    [JsonPropertyName("position_embedding_type")] public string PositionEmbeddingType { get; init; } = "absolute";
    /// <summary>hidden_dropout_prob: training only; ignored here.</summary>
    [JsonPropertyName("hidden_dropout_prob")] public double HiddenDropoutProb { get; init; } = 0.1;
    /// <summary>attention_probs_dropout_prob: training only; ignored here.</summary>
    [JsonPropertyName("attention_probs_dropout_prob")] public double AttentionProbsDropoutProb { get; init; } = 0.1;
    /// <summary>initializer_range: training only; ignored here.</summary>
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; init; } = 0.02;
    /// <summary>torch_dtype: the stored dtype as transformers names it.</summary>
    [JsonPropertyName("torch_dtype")] public string TorchDtype { get; init; } = "float32";

    /// <summary>Size of each attention head: hidden_size / num_attention_heads.</summary>
    [JsonIgnore] public int HeadDim => HiddenSize / NumAttentionHeads;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first inconsistent or unsupported field.</summary>
    public void Validate()
    {
        static void Positive(int value, string name)
        {
            if (value <= 0) throw new ArgumentException($"config: {name} must be positive, got {value}.");
        }
        if (ModelType != "bert")
            throw new ArgumentException($"config: model_type '{ModelType}' is not a BERT encoder (expected 'bert').");
        Positive(VocabSize, "vocab_size");
        Positive(HiddenSize, "hidden_size");
        Positive(NumHiddenLayers, "num_hidden_layers");
        Positive(NumAttentionHeads, "num_attention_heads");
        Positive(IntermediateSize, "intermediate_size");
        Positive(MaxPositionEmbeddings, "max_position_embeddings");
        Positive(TypeVocabSize, "type_vocab_size");
        if (HiddenSize % NumAttentionHeads != 0)
            throw new ArgumentException($"config: hidden_size {HiddenSize} is not divisible by num_attention_heads {NumAttentionHeads}.");
        if (HiddenAct != "gelu")
            throw new ArgumentException($"config: hidden_act '{HiddenAct}' is not supported (only 'gelu', the erf form).");
        if (PositionEmbeddingType != "absolute")
            throw new ArgumentException($"config: position_embedding_type '{PositionEmbeddingType}' is not supported (only 'absolute').");
        if (!(LayerNormEps > 0))
            throw new ArgumentException($"config: layer_norm_eps must be positive, got {LayerNormEps}.");
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    /// <summary>This config as an indented Hugging Face config.json.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Parses and validates a <c>config.json</c>; <paramref name="source"/> names the file in error messages.</summary>
    /// <exception cref="InvalidDataException">Not JSON, a required field missing, or a field <see cref="Validate"/> rejects.</exception>
    public static BertConfig FromJson(string json, string source = "config.json")
    {
        BertConfig? config;
        try
        {
            config = JsonSerializer.Deserialize<BertConfig>(json);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{source}: not a valid BERT config ({ex.Message})", ex);
        }
        if (config is null) throw new InvalidDataException($"{source}: empty config.");
        try { config.Validate(); }
        catch (ArgumentException ex) { throw new InvalidDataException($"{source}: {ex.Message}", ex); }
        return config;
    }
}
