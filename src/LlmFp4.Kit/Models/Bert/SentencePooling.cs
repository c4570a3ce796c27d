using System.Text.Json;
using System.Text.Json.Nodes;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace LlmFp4.Kit.Models.Bert;

/// <summary>How token states become one sentence embedding (sentence-transformers' <c>Pooling</c> module).</summary>
public enum PoolingMode
{
    /// <summary>The mean over the sequence's tokens, special tokens included (<c>pooling_mode_mean_tokens</c>; all-MiniLM-L6-v2).</summary>
    Mean,
    /// <summary>The state of the first token, [CLS] (<c>pooling_mode_cls_token</c>; arctic-embed).</summary>
    Cls,
}

/// <summary>
/// The sentence-transformers head of an encoder folder: pooling, L2 normalisation, the maximum sequence length and
/// an optional query prompt, read from and written to the files sentence-transformers uses (<c>modules.json</c>,
/// <c>1_Pooling/config.json</c>, <c>sentence_bert_config.json</c>, <c>config_sentence_transformers.json</c>).
/// </summary>
public sealed record SentencePooling(PoolingMode Mode, bool Normalize, int? MaxSeqLength = null, string? QueryPrompt = null)
{
    /// <summary>What a folder without sentence-transformers files gets: mean pooling, L2-normalised.</summary>
    public static SentencePooling Default { get; } = new(PoolingMode.Mean, Normalize: true);

    /// <summary>
    /// Pools one sequence's token states <paramref name="states"/> ([tokens × hidden]) into <paramref name="destination"/>
    /// ([hidden]) and L2-normalises it if <see cref="Normalize"/> (a zero vector stays zero, as with torch's eps).
    /// </summary>
    public void Pool(ReadOnlySpan<float> states, int tokens, Span<float> destination)
    {
        int hidden = destination.Length;
        if (tokens <= 0 || states.Length < tokens * hidden)
            throw new ArgumentException($"Pool: {states.Length} states do not hold {tokens} tokens of {hidden} (at least one token is needed).");
        if (Mode == PoolingMode.Cls)
            states[..hidden].CopyTo(destination);
        else
        {
            states[..hidden].CopyTo(destination);
            for (int t = 1; t < tokens; t++) TensorPrimitives.Add(destination, states.Slice(t * hidden, hidden), destination);
            TensorPrimitives.Divide(destination, tokens, destination);
        }
        if (!Normalize) return;
        float norm = TensorPrimitives.Norm(destination);
        TensorPrimitives.Divide(destination, Math.Max(norm, 1e-12f), destination);
    }

    /// <summary>sentence-transformers' file names: the module list, the pooling and normalize module folders, the sentence-BERT config (max_seq_length) and the sentence-transformers config (prompts).</summary>
    public const string ModulesFile = "modules.json", PoolingFolder = "1_Pooling", NormalizeFolder = "2_Normalize",
        SentenceBertConfigFile = "sentence_bert_config.json", SentenceTransformersConfigFile = "config_sentence_transformers.json";

    /// <summary>
    /// The head described by <paramref name="folder"/>'s sentence-transformers files, or <see cref="Default"/> when it has
    /// no <c>modules.json</c>. A pooling mode other than mean or CLS, or a module the kit does not run, is an error naming the file.
    /// </summary>
    public static SentencePooling Read(string folder)
    {
        string modulesPath = Path.Combine(folder, ModulesFile);
        if (!File.Exists(modulesPath)) return Default;
        var modules = Parse(modulesPath).AsArray();
        PoolingMode? mode = null;
        bool normalize = false;
        foreach (var module in modules)
        {
            string type = module?["type"]?.GetValue<string>() ?? "";
            string path = module?["path"]?.GetValue<string>() ?? "";
            switch (type)
            {
                case "sentence_transformers.models.Transformer": break;
                case "sentence_transformers.models.Pooling": mode = ReadPoolingMode(Path.Combine(folder, path, "config.json")); break;
                case "sentence_transformers.models.Normalize": normalize = true; break;
                default: throw new InvalidDataException($"{modulesPath}: module '{type}' is not supported (Transformer, Pooling, Normalize).");
            }
        }
        string bertConfig = Path.Combine(folder, SentenceBertConfigFile), stConfig = Path.Combine(folder, SentenceTransformersConfigFile);
        int? maxSeqLength = File.Exists(bertConfig) ? Parse(bertConfig)["max_seq_length"]?.GetValue<int>() : null;
        string? prompt = File.Exists(stConfig) ? Parse(stConfig)["prompts"]?["query"]?.GetValue<string>() : null;
        return new SentencePooling(mode ?? throw new InvalidDataException($"{modulesPath}: no Pooling module."), normalize, maxSeqLength, prompt);
    }

    /// <summary>Writes the sentence-transformers files for this head (Transformer, Pooling, Normalize modules) into <paramref name="folder"/>.</summary>
    public void Write(string folder, int hiddenSize, bool lowercase)
    {
        var modules = new JsonArray(
            Module(0, "0", "", "sentence_transformers.models.Transformer"),
            Module(1, "1", PoolingFolder, "sentence_transformers.models.Pooling"));
        if (Normalize) modules.Add(Module(2, "2", NormalizeFolder, "sentence_transformers.models.Normalize"));
        WriteJson(Path.Combine(folder, ModulesFile), modules);
        WriteJson(Path.Combine(folder, PoolingFolder, "config.json"), new JsonObject
        {
            ["word_embedding_dimension"] = hiddenSize,
            ["pooling_mode_cls_token"] = Mode == PoolingMode.Cls,
            ["pooling_mode_mean_tokens"] = Mode == PoolingMode.Mean,
            ["pooling_mode_max_tokens"] = false,
            ["pooling_mode_mean_sqrt_len_tokens"] = false,
        });
        var bertConfig = new JsonObject { ["do_lower_case"] = lowercase };
        if (MaxSeqLength is { } max) bertConfig["max_seq_length"] = max;
        WriteJson(Path.Combine(folder, SentenceBertConfigFile), bertConfig);
        var prompts = new JsonObject();
        if (QueryPrompt is { } prompt) prompts["query"] = prompt;
        WriteJson(Path.Combine(folder, SentenceTransformersConfigFile), new JsonObject { ["prompts"] = prompts, ["default_prompt_name"] = null });

        static JsonObject Module(int index, string name, string path, string type) =>
            new() { ["idx"] = index, ["name"] = name, ["path"] = path, ["type"] = type };
    }

    private static PoolingMode ReadPoolingMode(string path)
    {
        var config = Parse(path);
        bool Flag(string name) => config[name]?.GetValue<bool>() ?? false;
        var modes = new List<PoolingMode>();
        if (Flag("pooling_mode_mean_tokens")) modes.Add(PoolingMode.Mean);
        if (Flag("pooling_mode_cls_token")) modes.Add(PoolingMode.Cls);
        foreach (string other in new[] { "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken" })
            if (Flag(other)) throw new InvalidDataException($"{path}: {other} is not supported (mean or CLS pooling only).");
        return modes.Count == 1 ? modes[0] : throw new InvalidDataException($"{path}: exactly one of pooling_mode_mean_tokens and pooling_mode_cls_token must be true.");
    }

    private static JsonNode Parse(string path)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) ?? throw new InvalidDataException($"{path}: empty JSON.");
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{path}: not the sentence-transformers JSON the kit reads ({ex.Message}).", ex);
        }
    }

    private static void WriteJson(string path, JsonNode node) =>
        AtomicFile.WriteText(path, writer => writer.Write(node.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n"));
}
