using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Loading;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Calibration;

/// <summary>
/// How many weights of a layer leave the weight format when FPQ's power-of-two activation factors β_j = 2^-o_j are
/// folded into the weight columns: <see cref="OffGrid"/> folded values are not values of their row's format any more
/// (β shrinks them below the subnormal step, losing bits), <see cref="FlushedToZero"/> of them round to 0 there;
/// out of <see cref="NonZero"/> non-zero quantized weights.
/// </summary>
public sealed record FoldCheck(long NonZero, long OffGrid, long FlushedToZero);

/// <summary>What calibration chose for one linear layer (the quantized weights themselves are in the tensors file).</summary>
public sealed record LayerCalibration
{
    /// <summary>Hugging Face module name, e.g. <c>model.layers.0.self_attn.q_proj</c>.</summary>
    public required string Name { get; init; }

    /// <summary>Input channels.</summary>
    public required int InFeatures { get; init; }

    /// <summary>Output channels.</summary>
    public required int OutFeatures { get; init; }

    /// <summary>The weight grid (FP: exponent biases per output channel; INT: scales per output channel or group); GPTQ rounds on it in its own order.</summary>
    public TensorQuantizer? WeightQuantizer { get; init; }

    /// <summary>Applied to the layer's input at every forward.</summary>
    public TensorQuantizer? InputQuantizer { get; init; }

    /// <summary>E.g. "E2M1" or "INT4".</summary>
    public string? WeightFormat { get; init; }

    /// <summary>E.g. "E2M1", "INT8" or "INT8 per-token dynamic".</summary>
    public string? ActivationFormat { get; init; }

    /// <summary>mean((X·Wᵀ − X̂·Ŵᵀ)²) of this layer alone on the calibration set.</summary>
    public double? OutputMse { get; init; }

    /// <summary>What the method alone records (biases and search curves, smoothing scales, clusters, policy); null when nothing.</summary>
    public MethodLayerResult? Details { get; init; }
}

/// <summary>
/// The per-layer record of one method; the JSON <c>method</c> is the record's <see cref="MethodNameAttribute"/> name, as
/// on the method's <see cref="MethodSettings"/>.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "method")]
public abstract record MethodLayerResult;

/// <summary>
/// The FPQ baseline and FPQ searches. The chosen formats and exponent biases are the layer's quantizers
/// (<see cref="FpQuantizer.Biases"/>, and for FPQ the channel <see cref="FpQuantizer.Offsets"/>).
/// </summary>
/// <param name="Fold">FPQ: what folding the offsets into the weight columns does to the weight grid.</param>
/// <param name="Search">The rounds of the search with every candidate's error.</param>
[MethodName("fpq")]
public sealed record FpqLayerResult(FoldCheck? Fold, SearchTrace Search) : MethodLayerResult;

/// <summary>SmoothQuant: s_j per input channel (X/s, s·W).</summary>
[MethodName("smoothquant")]
public sealed record SmoothQuantLayerResult(float[] SmoothingScales) : MethodLayerResult;

/// <summary>RPTQ: sizes of the input-channel clusters, in the reordered channel order (each has its own activation range).</summary>
[MethodName("rptq")]
public sealed record RptqLayerResult(int[] InputClusterSizes) : MethodLayerResult;

/// <summary>FPTQ: the treatment of this layer's input chosen from max|X|, and the equalization scales when equalized.</summary>
[MethodName("fptq")]
public sealed record FptqLayerResult(FptqPolicy Policy, float[]? SmoothingScales) : MethodLayerResult;

/// <summary>The embedding table's quantization: format, per-row grid, table MSE and (searched methods) the curves.</summary>
public sealed record EmbeddingCalibration(string Format, TensorQuantizer Quantizer, double Mse, IReadOnlyList<FormatCurve>? Search);

/// <summary>Which model a result belongs to: its architecture, its config (as JSON) and a hash of its full-precision weights.</summary>
/// <param name="Source">Where the model was loaded from, when known.</param>
/// <param name="Config">The model's config object as JSON (LLaMA: its <c>LlamaConfig</c>).</param>
/// <param name="Parameters">Number of parameters hashed.</param>
/// <param name="WeightsSha256">First 16 hex digits of the SHA-256 of every parameter's name and float32 bytes.</param>
public sealed record ModelIdentity(string? Source, JsonElement Config, long Parameters, string WeightsSha256)
{
    /// <summary>SHA-256 (first 16 hex digits) over every parameter's name and float32 bytes, in <see cref="IQuantizableModel.NamedWeights"/> order.</summary>
    public static ModelIdentity Of(IQuantizableModel model, string? source = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long parameters = 0;
        foreach (var (name, tensor) in model.NamedWeights())
        {
            sha.AppendData(System.Text.Encoding.UTF8.GetBytes(name));
            sha.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(tensor.Data.AsSpan()));
            parameters += tensor.Data.Length;
        }
        var config = JsonSerializer.SerializeToElement(model.Config, model.Config.GetType(), QuantConfig.JsonOptions);
        return new ModelIdentity(source, config, parameters, Convert.ToHexStringLower(sha.GetHashAndReset())[..16]);
    }
}

/// <summary>
/// The outcome of calibrating a model with a <see cref="QuantConfig"/>: replaced parameters (quantized, folded or
/// smoothed), input and attention quantizers, per-layer choices and search curves, timings. Saved as a folder with
/// <c>result.json</c> and <c>tensors.safetensors</c> (the replaced parameters, float32, under their checkpoint names);
/// <see cref="Apply"/> puts it on a model without searching again.
/// </summary>
public sealed class CalibrationResult
{
    /// <summary>The choices, config and identity, as JSON.</summary>
    public const string JsonFile = "result.json";

    /// <summary>The replaced parameters, float32 safetensors.</summary>
    public const string TensorsFile = "tensors.safetensors";

    /// <summary>The config calibrated.</summary>
    public required QuantConfig Config { get; init; }

    /// <summary><see cref="QuantConfig.Hash"/> of <see cref="Config"/>.</summary>
    public string ConfigHash => Config.Hash;

    /// <summary>The model calibrated (results apply to it only).</summary>
    public required ModelIdentity Model { get; init; }

    /// <summary>Tokens of the calibration set.</summary>
    public int CalibrationTokens { get; init; }

    /// <summary>Every quantized linear layer, in execution order.</summary>
    public required IReadOnlyList<LayerCalibration> Layers { get; init; }

    /// <summary>The token embedding's quantization, or null when it stays in full precision.</summary>
    public EmbeddingCalibration? Embedding { get; init; }

    /// <summary>Quantizers of the attention-matmul points, by point name.</summary>
    public IReadOnlyDictionary<string, TensorQuantizer> AttentionQuantizers { get; init; } = new Dictionary<string, TensorQuantizer>();

    /// <summary>What produced it (kit version and commit, GEMM backend): this process for a new result, the file's for a loaded one (null in files written before it was recorded).</summary>
    public Provenance? Provenance { get; init; } = Provenance.Current;

    /// <summary>
    /// Wall seconds per stage: "capture", "group NAME" per input group, "layers" (the whole layer loop), "embedding",
    /// "total", and inside the layer loop "layer output error" (<see cref="CalibrationContext.LayerErrorStage"/>) and, for
    /// the FPQ methods, the search's parts (<see cref="SearchStages"/>), each summed over all groups and also per group as
    /// "group NAME: PART" (<see cref="CalibrationContext.GroupTiming"/>; NAME is the input group, e.g. <c>lm_head_input</c>).
    /// A group's own time holds its parts and the method's other work; "layers" holds every group's.
    /// </summary>
    public IReadOnlyDictionary<string, double> Timings { get; init; } = new Dictionary<string, double>();

    /// <summary>Set by <see cref="Load"/> when the folder was saved in the earlier layout and read into the current one: says so, with both config hashes.</summary>
    [JsonIgnore]
    public string? LoadNote { get; init; }

    /// <summary>Replaced parameters by checkpoint name (e.g. <c>model.layers.0.self_attn.q_proj.weight</c>).</summary>
    [JsonIgnore]
    public IReadOnlyDictionary<string, float[]> Tensors { get; init; } = new Dictionary<string, float[]>();

    /// <summary>
    /// Puts the result on <paramref name="model"/> (which must be the calibrated model: same weights hash): replaces
    /// the parameters, sets the input and attention quantizers. With <paramref name="foldPreShiftedBias"/>, FPQ layers
    /// run in the reparameterised form (power-of-two factors folded into the weight columns, one shared bias on the
    /// activations) instead of the simulated per-channel quantizer; the outputs are the same. With
    /// <see cref="QuantConfig.PackWeights"/> the quantized linear weights are then held packed (<see cref="LinearLayer.PackedWeight"/>).
    /// </summary>
    public void Apply(IQuantizableModel model, bool foldPreShiftedBias = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        var identity = ModelIdentity.Of(model);
        if (identity.WeightsSha256 != Model.WeightsSha256)
            throw new InvalidOperationException(
                $"This calibration result belongs to the model with weights hash {Model.WeightsSha256} ({Model.Source ?? "unnamed"}), not {identity.WeightsSha256}; calibrate this model instead.");

        var linears = model.Linears.ToDictionary(l => l.Name);
        foreach (var layer in Layers)
            if (!linears.ContainsKey(layer.Name))
                throw new InvalidDataException($"calibration result: layer '{layer.Name}' is not in this model.");
        try
        {
            model.ReplaceParameters(Tensors.ToDictionary(t => t.Key, t => (float[])t.Value.Clone()));
        }
        catch (InvalidDataException ex)
        {
            throw new InvalidDataException($"calibration result: {ex.Message}", ex);
        }
        foreach (var layer in Layers)
        {
            var linear = linears[layer.Name];
            linear.InputQuantizer = layer.InputQuantizer;
            if (foldPreShiftedBias && layer.InputQuantizer is FpQuantizer { Offsets: not null } simulated)
            {
                var (weight, quantizer) = PreShiftedFold.Fold(linear.Weight, linear.OutFeatures, linear.InFeatures, simulated);
                linear.Weight = weight;
                linear.InputQuantizer = quantizer;
            }
        }
        if (Config.PackWeights)
            foreach (var layer in Layers.Where(l => l.WeightQuantizer is not null))
            {
                var linear = linears[layer.Name];
                linear.PackedWeight = PackedWeights.FromQuantized(linear.Weight, linear.OutFeatures, linear.InFeatures, layer.WeightQuantizer!, linear.WeightName);
            }
        var points = model.AttentionMatMulPoints.ToDictionary(p => p.Name);
        foreach (var (name, quantizer) in AttentionQuantizers)
        {
            if (!points.TryGetValue(name, out var point))
                throw new InvalidDataException($"calibration result: attention point '{name}' is not in this model.");
            point.Quantizer = quantizer;
        }
    }

    /// <summary>Writes <c>result.json</c> and <c>tensors.safetensors</c> into <paramref name="directory"/> (each through a temporary file).</summary>
    public void Save(string directory)
    {
        // Serialise first: a result that cannot be written leaves no files behind.
        var json = JsonSerializer.Serialize(Document.From(this), QuantConfig.JsonOptions);
        Directory.CreateDirectory(directory);
        SafeTensorsWriter.Write(Path.Combine(directory, TensorsFile),
            Tensors.Select(t => new TensorToWrite(t.Key, [t.Value.Length], t.Value, DType.F32)),
            new Dictionary<string, string> { ["config_hash"] = ConfigHash, ["model_weights_sha256"] = Model.WeightsSha256 });
        AtomicFile.WriteText(Path.Combine(directory, JsonFile), writer => writer.Write(json));
    }

    /// <summary>Reads a folder written by <see cref="Save"/>.</summary>
    public static CalibrationResult Load(string directory)
    {
        string jsonPath = Path.Combine(directory, JsonFile), tensorsPath = Path.Combine(directory, TensorsFile);
        if (!File.Exists(jsonPath)) throw new FileNotFoundException($"{directory}: not a calibration result (no {JsonFile}).", jsonPath);
        if (!File.Exists(tensorsPath)) throw new FileNotFoundException($"{directory}: calibration result without {TensorsFile}.", tensorsPath);
        Document document;
        string? note = null;
        try
        {
            var node = JsonNode.Parse(File.ReadAllText(jsonPath)) as JsonObject ?? throw new InvalidDataException($"{jsonPath}: empty calibration result.");
            if (LegacyConfig.IsLegacy(node["config"]))
            {
                string earlierHash = node["config_hash"]?.GetValue<string>() ?? "";
                node = LegacyResult.ToCurrent(node, jsonPath);
                note = $"{directory}: saved by an earlier version of the kit (config hash {earlierHash}); read into the current layout (config hash {node["config_hash"]!.GetValue<string>()}).";
            }
            if (LegacyResult.HasScaleQuantizers(node))
            {
                node = LegacyResult.BiasesFromScales(node, jsonPath);
                note ??= $"{directory}: saved by an earlier version of the kit (FP quantizers as float scales); read into the current layout (exponent biases).";
            }
            document = node.Deserialize<Document>(QuantConfig.JsonOptions) ?? throw new InvalidDataException($"{jsonPath}: empty calibration result.");
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{jsonPath}: not a valid calibration result ({ex.Message})", ex);
        }
        var tensors = new Dictionary<string, float[]>();
        var header = SafeTensorsReader.ReadHeader(tensorsPath);
        using (var stream = File.OpenRead(tensorsPath))
        {
            foreach (var entry in header.Entries)
            {
                if (entry.DType != "F32") throw new InvalidDataException($"{tensorsPath}: tensor {entry.Name} is {entry.DType}, expected F32.");
                var bytes = new byte[entry.End - entry.Begin];
                stream.Position = entry.Begin;
                stream.ReadExactly(bytes);
                tensors[entry.Name] = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes).ToArray();
            }
        }
        if (document.ConfigHash != document.Config.Hash)
            throw new InvalidDataException($"{jsonPath}: config_hash {document.ConfigHash} does not match its config ({document.Config.Hash}); the file was edited.");
        return new CalibrationResult
        {
            Config = document.Config,
            Model = document.Model,
            CalibrationTokens = document.CalibrationTokens,
            Layers = document.Layers,
            Embedding = document.Embedding,
            AttentionQuantizers = document.AttentionQuantizers,
            Timings = document.Timings,
            Provenance = document.Provenance,
            Tensors = tensors,
            LoadNote = note,
        };
    }

    /// <summary>The JSON shape of <c>result.json</c>, property order fixed.</summary>
    private sealed record Document(
        QuantConfig Config,
        string ConfigHash,
        ModelIdentity Model,
        int CalibrationTokens,
        IReadOnlyDictionary<string, double> Timings,
        EmbeddingCalibration? Embedding,
        IReadOnlyDictionary<string, TensorQuantizer> AttentionQuantizers,
        IReadOnlyList<LayerCalibration> Layers,
        Provenance? Provenance = null)
    {
        public static Document From(CalibrationResult result) =>
            new(result.Config, result.ConfigHash, result.Model, result.CalibrationTokens, result.Timings, result.Embedding,
                result.AttentionQuantizers, result.Layers, result.Provenance);
    }
}

/// <summary>
/// Reads <c>result.json</c> files of earlier layouts. Before per-method settings and results the config's method was a name and results (the config's method a name with every
/// method's settings beside it; every method's per-layer fields flat on the layer): the config hash is checked as it was
/// computed then, and the document is rewritten in the current layout, under the current hash.
/// </summary>
internal static class LegacyResult
{
    private static readonly string[] FlatFields =
        ["weight_biases", "activation_bias", "activation_offsets", "smoothing_scales", "input_cluster_sizes", "activation_policy", "fold", "search"];

    public static JsonObject ToCurrent(JsonObject document, string path)
    {
        var legacy = document["config"]!.AsObject();
        string saved = document["config_hash"]?.GetValue<string>() ?? "";
        if (saved != LegacyConfig.LegacyHash(legacy))
            throw new InvalidDataException($"{path}: config_hash {saved} does not match its config; the file was edited.");
        string method = legacy["method"]!.GetValue<string>();
        var config = LegacyConfig.ToCurrent(legacy);
        var current = document.DeepClone().AsObject();
        current["config"] = config;
        current["config_hash"] = config.Deserialize<QuantConfig>(QuantConfig.JsonOptions)!.Hash;
        foreach (var layer in current["layers"]?.AsArray() ?? [])
        {
            var o = layer!.AsObject();
            JsonNode? Take(string key) => o[key]?.DeepClone();
            JsonObject? details = method switch
            {
                "minmax" when o["weight_biases"] is not null || o["activation_bias"] is not null =>
                    new() { ["method"] = "minmax", ["weight_biases"] = Take("weight_biases"), ["activation_bias"] = Take("activation_bias") },
                "fpq-baseline" or "fpq" => new()
                {
                    ["method"] = "fpq", ["weight_biases"] = Take("weight_biases"), ["activation_bias"] = Take("activation_bias"),
                    ["activation_offsets"] = Take("activation_offsets"), ["fold"] = Take("fold"), ["search"] = Take("search"),
                },
                "smoothquant" => new() { ["method"] = "smoothquant", ["smoothing_scales"] = Take("smoothing_scales") },
                "rptq" => new() { ["method"] = "rptq", ["input_cluster_sizes"] = Take("input_cluster_sizes") },
                "fptq" => new() { ["method"] = "fptq", ["policy"] = Take("activation_policy"), ["smoothing_scales"] = Take("smoothing_scales") },
                _ => null,
            };
            foreach (string field in FlatFields) o.Remove(field);
            o["details"] = details;
        }
        return current;
    }
    /// <summary>Whether any FP quantizer in the document is in the earlier float-scale form.</summary>
    public static bool HasScaleQuantizers(JsonNode document) => FpQuantizerNodes(document).Any(q => q.ContainsKey("scales"));

    /// <summary>
    /// Rewrites every FP quantizer from float scales to exponent biases, b_i = B − log2(s_i) on the format's own bias B,
    /// or for FPQ's pre-shifted input the ρ and offsets the layer's result recorded; drops the biases repeated in the
    /// per-layer results. Each rewritten quantizer must give back the saved scales bit for bit (so the loaded result
    /// quantizes exactly as the saved one did); otherwise the file is refused.
    /// </summary>
    /// <exception cref="InvalidDataException">A quantizer cannot be rewritten exactly; the message names it.</exception>
    public static JsonObject BiasesFromScales(JsonObject document, string path)
    {
        var current = document.DeepClone().AsObject();
        foreach (var layer in current["layers"]?.AsArray() ?? [])
        {
            var o = layer!.AsObject();
            string name = o["name"]?.GetValue<string>() ?? "?";
            if (o["details"] is JsonObject details)
            {
                if (details["activation_offsets"] is JsonArray offsets && details["activation_bias"] is JsonValue rho
                    && o["input_quantizer"] is JsonObject input && input.ContainsKey("scales"))
                    o["input_quantizer"] = Rewrite(input, [rho.GetValue<double>()], [.. offsets.Select(x => x!.GetValue<int>())], path, $"layer {name} input");
                // The biases the search chose, where they give the saved scales (b = B − log2(s) gives the same scales but
                // may differ from them in the last bits).
                if (details["weight_biases"] is JsonArray weightBiases && o["weight_quantizer"] is JsonObject searchedWeight)
                    o["weight_quantizer"] = TryRewrite(searchedWeight, [.. weightBiases.Select(b => b!.GetValue<double>())]) ?? searchedWeight;
                if (details["activation_bias"] is JsonValue bias && o["input_quantizer"] is JsonObject perTensor)
                    o["input_quantizer"] = TryRewrite(perTensor, [bias.GetValue<double>()]) ?? perTensor;
                foreach (string field in new[] { "weight_biases", "activation_bias", "activation_offsets" }) details.Remove(field);
                if (details["method"]?.GetValue<string>() == "minmax") o["details"] = null;
            }
            if (o["weight_quantizer"] is JsonObject weight) o["weight_quantizer"] = RewriteScales(weight, path, $"layer {name} weight");
            if (o["input_quantizer"] is JsonObject inputQuantizer) o["input_quantizer"] = RewriteScales(inputQuantizer, path, $"layer {name} input");
        }
        if (current["embedding"]?["quantizer"] is JsonObject embedding)
            current["embedding"]!["quantizer"] = RewriteScales(embedding, path, "token embedding");
        if (current["attention_quantizers"] is JsonObject attention)
            foreach (var key in attention.Select(p => p.Key).ToList())
                if (attention[key] is JsonObject point) attention[key] = RewriteScales(point, path, $"attention point {key}");
        return current;
    }

    private static IEnumerable<JsonObject> FpQuantizerNodes(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                if (o["type"] is JsonValue type && type.TryGetValue<string>(out var t) && t == "fp") yield return o;
                foreach (var (_, child) in o)
                    foreach (var q in FpQuantizerNodes(child)) yield return q;
                break;
            case JsonArray a:
                foreach (var child in a)
                    foreach (var q in FpQuantizerNodes(child)) yield return q;
                break;
        }
    }

    /// <summary>An FP quantizer in scale form (possibly inside a column-scaled one) rewritten with one bias per scale.</summary>
    private static JsonObject RewriteScales(JsonObject quantizer, string path, string what)
    {
        if (quantizer["inner"] is JsonObject inner) quantizer["inner"] = RewriteScales(inner, path, what);
        if (quantizer["type"]?.GetValue<string>() != "fp" || quantizer["scales"] is not JsonArray scales) return quantizer;
        var format = ParseFormat(quantizer, path, what);
        return Rewrite(quantizer, [.. scales.Select(s => format.Bias - Math.Log2(s!.GetValue<float>()))], null, path, what);
    }

    private static JsonObject? TryRewrite(JsonObject quantizer, double[] biases)
    {
        if (quantizer["type"]?.GetValue<string>() != "fp" || !quantizer.ContainsKey("scales")) return null;
        try
        {
            return Rewrite(quantizer, biases, null, "", "");
        }
        catch (InvalidDataException)
        {
            return null;
        }
    }

    private static FpFormat ParseFormat(JsonObject quantizer, string path, string what)
    {
        try
        {
            return FpFormat.Parse(quantizer["format"]!.GetValue<string>());
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidOperationException or NullReferenceException)
        {
            throw new InvalidDataException($"{path}: the {what} quantizer's format is not readable ({ex.Message}); calibrate again.", ex);
        }
    }

    private static JsonObject Rewrite(JsonObject quantizer, double[] biases, int[]? offsets, string path, string what)
    {
        var format = ParseFormat(quantizer, path, what);
        var saved = quantizer["scales"]!.AsArray().Select(s => s!.GetValue<float>()).ToArray();
        var granularity = quantizer["granularity"].Deserialize<Granularity>(QuantConfig.JsonOptions)!;
        FpQuantizer rewritten;
        try
        {
            rewritten = new FpQuantizer(format, granularity, biases, offsets);
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDataException($"{path}: the {what} quantizer ({format}, {saved.Length} scales) has no exponent-bias form ({ex.Message}); calibrate again.", ex);
        }
        // The rewritten quantizer works on the bias-0 format: its scales are the saved ones times 2^-B.
        bool exact = format.HasIntegerBias && rewritten.Scales.Length == saved.Length
            && rewritten.Scales.Select((s, i) => BitConverter.SingleToInt32Bits(s) == BitConverter.SingleToInt32Bits(MathF.ScaleB(saved[i], -(int)format.Bias))).All(x => x);
        if (!exact)
            throw new InvalidDataException(
                $"{path}: the {what} quantizer ({format}, {saved.Length} scales) cannot be rewritten as exponent biases that quantize exactly as saved; calibrate again with `llmfp4 calibrate`.");
        return JsonSerializer.SerializeToNode<TensorQuantizer>(rewritten, QuantConfig.JsonOptions)!.AsObject();
    }
}
