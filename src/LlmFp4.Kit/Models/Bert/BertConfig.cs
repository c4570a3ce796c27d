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
    [JsonPropertyName("architectures")] public string[] Architectures { get; init; } = ["BertModel"];
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "bert";
    [JsonPropertyName("vocab_size")] public required int VocabSize { get; init; }
    [JsonPropertyName("hidden_size")] public required int HiddenSize { get; init; }
    [JsonPropertyName("num_hidden_layers")] public required int NumHiddenLayers { get; init; }
    [JsonPropertyName("num_attention_heads")] public required int NumAttentionHeads { get; init; }
    [JsonPropertyName("intermediate_size")] public required int IntermediateSize { get; init; }
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "gelu";
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 512;
    [JsonPropertyName("type_vocab_size")] public int TypeVocabSize { get; init; } = 2;
    [JsonPropertyName("layer_norm_eps")] public double LayerNormEps { get; init; } = 1e-12;
    [JsonPropertyName("pad_token_id")] public int PadTokenId { get; init; }
    [JsonPropertyName("position_embedding_type")] public string PositionEmbeddingType { get; init; } = "absolute";
    [JsonPropertyName("hidden_dropout_prob")] public double HiddenDropoutProb { get; init; } = 0.1;
    [JsonPropertyName("attention_probs_dropout_prob")] public double AttentionProbsDropoutProb { get; init; } = 0.1;
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; init; } = 0.02;
    [JsonPropertyName("torch_dtype")] public string TorchDtype { get; init; } = "float32";

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
