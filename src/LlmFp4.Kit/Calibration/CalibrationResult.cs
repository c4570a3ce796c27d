using System.Security.Cryptography;
using System.Text.Json;
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
    public required string Name { get; init; }
    public required int InFeatures { get; init; }
    public required int OutFeatures { get; init; }

    /// <summary>The weight grid (scales per output channel or group); GPTQ rounds on it in its own order.</summary>
    public TensorQuantizer? WeightQuantizer { get; init; }

    /// <summary>Applied to the layer's input at every forward.</summary>
    public TensorQuantizer? InputQuantizer { get; init; }

    /// <summary>E.g. "E2M1" or "INT4".</summary>
    public string? WeightFormat { get; init; }
    public string? ActivationFormat { get; init; }

    /// <summary>FP exponent bias per output channel (the scale is 2^-b on the bias-0 format).</summary>
    public double[]? WeightBiases { get; init; }

    /// <summary>FP activation bias: per tensor, or ρ shared by the pre-shifted channels.</summary>
    public double? ActivationBias { get; init; }

    /// <summary>FPQ: integer bias offset of each input channel (channel j has bias ρ + o_j).</summary>
    public int[]? ActivationOffsets { get; init; }

    /// <summary>SmoothQuant, and FPTQ's logarithmic equalization: s_j per input channel (X/s, s·W).</summary>
    public float[]? SmoothingScales { get; init; }

    /// <summary>RPTQ: sizes of the input-channel clusters, in the reordered channel order (each has its own activation range).</summary>
    public int[]? InputClusterSizes { get; init; }

    /// <summary>FPTQ: the treatment of this layer's input chosen from max|X| ("static", "equalized", "dynamic").</summary>
    public string? ActivationPolicy { get; init; }

    /// <summary>mean((X·Wᵀ − X̂·Ŵᵀ)²) of this layer alone on the calibration set.</summary>
    public double? OutputMse { get; init; }

    public FoldCheck? Fold { get; init; }
    public SearchTrace? Search { get; init; }
}

/// <summary>The embedding table's quantization: format, per-row grid, table MSE and (searched methods) the curves.</summary>
public sealed record EmbeddingCalibration(string Format, TensorQuantizer Quantizer, double Mse, IReadOnlyList<FormatCurve>? Search);

/// <summary>Which model a result belongs to: its config and a hash of its full-precision weights.</summary>
public sealed record ModelIdentity(string? Source, LlamaConfig Config, long Parameters, string WeightsSha256)
{
    /// <summary>SHA-256 (first 16 hex digits) over every parameter's name and float32 bytes, in checkpoint order.</summary>
    public static ModelIdentity Of(LlamaModel model, string? source = null)
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
        return new ModelIdentity(source, model.Config, parameters, Convert.ToHexStringLower(sha.GetHashAndReset())[..16]);
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
    public const string JsonFile = "result.json";
    public const string TensorsFile = "tensors.safetensors";

    public required QuantConfig Config { get; init; }
    public string ConfigHash => Config.Hash;
    public required ModelIdentity Model { get; init; }
    public int CalibrationTokens { get; init; }
    public required IReadOnlyList<LayerCalibration> Layers { get; init; }
    public EmbeddingCalibration? Embedding { get; init; }

    /// <summary>Quantizers of the attention-matmul points, by point name.</summary>
    public IReadOnlyDictionary<string, TensorQuantizer> AttentionQuantizers { get; init; } = new Dictionary<string, TensorQuantizer>();

    /// <summary>What produced it (kit version and commit, GEMM backend): this process for a new result, the file's for a loaded one (null in files written before it was recorded).</summary>
    public Provenance? Provenance { get; init; } = Provenance.Current;

    /// <summary>Seconds per stage (capture, search, …).</summary>
    public IReadOnlyDictionary<string, double> Timings { get; init; } = new Dictionary<string, double>();

    /// <summary>Replaced parameters by checkpoint name (e.g. <c>model.layers.0.self_attn.q_proj.weight</c>).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyDictionary<string, float[]> Tensors { get; init; } = new Dictionary<string, float[]>();

    /// <summary>
    /// Puts the result on <paramref name="model"/> (which must be the calibrated model: same weights hash): replaces
    /// the parameters, sets the input and attention quantizers. With <paramref name="foldPreShiftedBias"/>, FPQ layers
    /// run in the reparameterised form (power-of-two factors folded into the weight columns, one shared bias on the
    /// activations) instead of the simulated per-channel quantizer; the outputs are the same. With
    /// <see cref="QuantConfig.PackWeights"/> the quantized linear weights are then held packed (<see cref="LinearLayer.PackedWeight"/>).
    /// </summary>
    public void Apply(LlamaModel model, bool foldPreShiftedBias = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        var identity = ModelIdentity.Of(model);
        if (identity.WeightsSha256 != Model.WeightsSha256)
            throw new InvalidOperationException(
                $"This calibration result belongs to the model with weights hash {Model.WeightsSha256} ({Model.Source ?? "unnamed"}), not {identity.WeightsSha256}; calibrate this model instead.");

        var linears = model.Linears.ToDictionary(l => l.Name);
        var norms = model.Layers.SelectMany(l => new[] { l.InputNorm, l.PostAttentionNorm }).Append(model.FinalNorm).ToDictionary(n => n.Name);
        if (Tensors.ContainsKey(model.Embedding.Name) && !Tensors.ContainsKey(model.LmHead.WeightName) && ReferenceEquals(model.LmHead.Weight, model.Embedding.Data))
            model.LmHead.Weight = (float[])model.Embedding.Data.Clone();
        foreach (var (name, values) in Tensors)
        {
            var copy = (float[])values.Clone();
            if (name == model.Embedding.Name) model.Embedding.Data = copy;
            else if (norms.TryGetValue(name, out var norm)) norm.Data = copy;
            else if (name.EndsWith(".weight", StringComparison.Ordinal) && linears.TryGetValue(name[..^".weight".Length], out var linear)) linear.Weight = copy;
            else throw new InvalidDataException($"calibration result: tensor '{name}' is not a parameter of this model.");
        }
        foreach (var layer in Layers)
        {
            if (!linears.TryGetValue(layer.Name, out var linear))
                throw new InvalidDataException($"calibration result: layer '{layer.Name}' is not in this model.");
            linear.InputQuantizer = layer.InputQuantizer;
            if (foldPreShiftedBias && layer.ActivationOffsets is { } offsets && layer.InputQuantizer is FpQuantizer simulated && layer.ActivationBias is { } rho)
            {
                var (weight, quantizer) = PreShiftedFold.Fold(linear.Weight, linear.OutFeatures, linear.InFeatures, simulated.Format, rho, offsets);
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
        Directory.CreateDirectory(directory);
        SafeTensorsWriter.Write(Path.Combine(directory, TensorsFile),
            Tensors.Select(t => new TensorToWrite(t.Key, [t.Value.Length], t.Value, DType.F32)),
            new Dictionary<string, string> { ["config_hash"] = ConfigHash, ["model_weights_sha256"] = Model.WeightsSha256 });
        var json = JsonSerializer.Serialize(Document.From(this), QuantConfig.JsonOptions);
        AtomicFile.WriteText(Path.Combine(directory, JsonFile), writer => writer.Write(json));
    }

    /// <summary>Reads a folder written by <see cref="Save"/>.</summary>
    public static CalibrationResult Load(string directory)
    {
        string jsonPath = Path.Combine(directory, JsonFile), tensorsPath = Path.Combine(directory, TensorsFile);
        if (!File.Exists(jsonPath)) throw new FileNotFoundException($"{directory}: not a calibration result (no {JsonFile}).", jsonPath);
        if (!File.Exists(tensorsPath)) throw new FileNotFoundException($"{directory}: calibration result without {TensorsFile}.", tensorsPath);
        Document document;
        try
        {
            document = JsonSerializer.Deserialize<Document>(File.ReadAllText(jsonPath), QuantConfig.JsonOptions)
                ?? throw new InvalidDataException($"{jsonPath}: empty calibration result.");
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
