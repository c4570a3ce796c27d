using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using LlmFp4.Kit.Formats;

namespace LlmFp4.Kit.Quantization;

/// <summary>Integer or floating-point codes.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<NumberKind>))]
public enum NumberKind
{
    /// <summary>Integer codes with a scale (and zero point).</summary>
    [JsonStringEnumMemberName("int")] Int,

    /// <summary>Floating-point codes ExMy with an exponent bias.</summary>
    [JsonStringEnumMemberName("fp")] Fp,
}

/// <summary>
/// The number format of one kind of tensor (weights, activations, embedding or attention operands).
/// FP: <see cref="Bits"/> = 1 + e + m with <see cref="ExponentBits"/> the starting e; the searches try the
/// mantissa widths in <see cref="SearchMantissaBits"/>. INT: symmetric or asymmetric, static or per-token dynamic.
/// </summary>
public sealed record QuantSpec
{
    /// <summary>INT or FP.</summary>
    public required NumberKind Kind { get; init; }

    /// <summary>Bits per code (sign included).</summary>
    public required int Bits { get; init; }

    /// <summary>FP: starting exponent width (the MinMax format); 0 for INT.</summary>
    public int ExponentBits { get; init; }

    /// <summary>Which elements share a scale / bias. FPQ activations use <see cref="GranularityKind.PerColumn"/> (the pre-shifted bias).</summary>
    public Granularity Granularity { get; init; } = Granularity.PerTensor;

    /// <summary>INT only: symmetric codes around zero (else min/max with a zero point).</summary>
    public bool Symmetric { get; init; } = true;

    /// <summary>INT activations only: scale computed per token at run time instead of calibrated.</summary>
    public bool Dynamic { get; init; }

    /// <summary>FP formats the search tries, by mantissa width (4 bits: 0,1,2 = E3M0, E2M1, E1M2; 8 bits: 2..6).</summary>
    public int[] SearchMantissaBits { get; init; } = [];

    /// <summary>FP: the starting format E{e}M{bits-1-e} with bias 0 (a bias is applied as a scale).</summary>
    [JsonIgnore] public FpFormat StartFormat => FpFormat.Create(ExponentBits, Bits - 1 - ExponentBits, 0);

    /// <summary>INT: the code range.</summary>
    [JsonIgnore] public IntFormat IntFormat => Symmetric ? IntFormat.Symmetric(Bits) : IntFormat.Asymmetric(Bits);

    /// <summary>FP formats with bias 0 in search order; the starting format alone when nothing is listed.</summary>
    [JsonIgnore]
    public IReadOnlyList<FpFormat> SearchFormats =>
        SearchMantissaBits.Length == 0 ? [StartFormat] : [.. SearchMantissaBits.Select(m => FpFormat.Create(Bits - 1 - m, m, 0))];

    /// <summary>FP spec with LLM-FP4's defaults: start E2M1 at 4 bits, E4M3 at 8 (else the widest exponent up to half the bits).</summary>
    public static QuantSpec Fp(int bits, Granularity granularity) => new()
    {
        Kind = NumberKind.Fp,
        Bits = bits,
        ExponentBits = DefaultExponentBits(bits),
        Granularity = granularity,
        SearchMantissaBits = DefaultSearchMantissaBits(bits),
    };

    /// <summary>INT spec: symmetric (or with a zero point), static (or computed per token at run time).</summary>
    public static QuantSpec Int(int bits, Granularity granularity, bool symmetric = true, bool dynamic = false) => new()
    {
        Kind = NumberKind.Int,
        Bits = bits,
        Granularity = granularity,
        Symmetric = symmetric,
        Dynamic = dynamic,
    };

    /// <summary>4 → 2 (E2M1), 8 → 4 (E4M3); otherwise bits / 2 capped so at least one mantissa bit remains.</summary>
    public static int DefaultExponentBits(int bits) => bits switch
    {
        4 => 2,
        8 => 4,
        _ => Math.Clamp(bits / 2, 1, Math.Min(FpFormat.MaxExponentBits, bits - 2)),
    };

    /// <summary>The reference code's format candidates: below 8 bits every m in 0..bits-2 (E0My excluded), from 8 bits m in 2..bits-2.</summary>
    public static int[] DefaultSearchMantissaBits(int bits)
    {
        int first = bits >= 8 ? 2 : 0;
        return [.. Enumerable.Range(first, Math.Max(0, bits - 1 - first)).Where(m => bits - 1 - m <= FpFormat.MaxExponentBits)];
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming <paramref name="what"/> and the bad field.</summary>
    public void Validate(string what)
    {
        if (Kind == NumberKind.Int)
        {
            if (Bits is < IntFormat.MinBits or > IntFormat.MaxBits)
                throw new ArgumentException($"{what}: INT bits must be {IntFormat.MinBits}..{IntFormat.MaxBits}, got {Bits}.");
            if (SearchMantissaBits.Length != 0)
                throw new ArgumentException($"{what}: search_mantissa_bits applies to FP formats only.");
            return;
        }
        if (Bits is < 3 or > 16)
            throw new ArgumentException($"{what}: FP bits must be 3..16, got {Bits}.");
        if (ExponentBits < 1 || ExponentBits > Math.Min(FpFormat.MaxExponentBits, Bits - 1))
            throw new ArgumentException($"{what}: exponent_bits {ExponentBits} does not fit a {Bits}-bit FP format (1..{Math.Min(FpFormat.MaxExponentBits, Bits - 1)}).");
        foreach (int m in SearchMantissaBits)
            if (m < 0 || Bits - 1 - m < 1 || Bits - 1 - m > FpFormat.MaxExponentBits)
                throw new ArgumentException($"{what}: search_mantissa_bits has {m}, which leaves no valid exponent width in {Bits} bits.");
        if (Dynamic)
            throw new ArgumentException($"{what}: dynamic (per-token) quantization is implemented for INT only.");
    }

    /// <summary>E.g. "FP4 E2M1 PerRow" or "INT8 PerTensor dynamic".</summary>
    public override string ToString() => Kind == NumberKind.Int
        ? $"{(Symmetric ? "INT" : "UINT")}{Bits} {Granularity}{(Dynamic ? " dynamic" : "")}"
        : $"FP{Bits} E{ExponentBits}M{Bits - 1 - ExponentBits} {Granularity}";
}

/// <summary>The candidate grid and alternation of the LLM-FP4 search (docs/methods.md §3).</summary>
public sealed record SearchSettings
{
    /// <summary>γ1, the smallest multiplier of the starting exponent bias (paper: 0.01).</summary>
    public double Gamma1 { get; init; } = 0.01;

    /// <summary>γ2, the largest multiplier (paper: 1.2).</summary>
    public double Gamma2 { get; init; } = 1.2;

    /// <summary>k: the grid is γ_i = γ1 + i (γ2 - γ1) / k.</summary>
    public int Steps { get; init; } = 100;

    /// <summary>Rounds of the alternation weight bias → weight format → activation bias → activation format (paper: 3).</summary>
    public int Rounds { get; init; } = 3;

    /// <summary>Try i = 0..k (true) or stop at k - 1 like the reference code's loop (false).</summary>
    public bool IncludeEndpoint { get; init; } = true;

    /// <summary>The multipliers γ_i applied to the starting bias.</summary>
    public double[] Multipliers()
    {
        int count = IncludeEndpoint ? Steps + 1 : Steps;
        return [.. Enumerable.Range(0, count).Select(i => Gamma1 + i * (Gamma2 - Gamma1) / Steps)];
    }

    internal void Validate()
    {
        if (Steps < 1) throw new ArgumentException($"search.steps must be at least 1, got {Steps}.");
        if (Rounds < 1) throw new ArgumentException($"search.rounds must be at least 1, got {Rounds}.");
        if (!(Gamma1 > 0) || !(Gamma2 > Gamma1))
            throw new ArgumentException($"search: need 0 < gamma1 < gamma2, got gamma1={Gamma1}, gamma2={Gamma2}.");
    }
}

/// <summary>N windows of L tokens from the training split, drawn with a seed.</summary>
public sealed record CalibrationDataSettings
{
    /// <summary>N, the number of windows (the reference code: 32).</summary>
    public int Samples { get; init; } = 32;

    /// <summary>L, tokens per window.</summary>
    public int SequenceLength { get; init; } = 512;

    /// <summary>Seed of the window draw (<c>System.Random</c>).</summary>
    public int Seed { get; init; }
}

/// <summary>
/// How a method finds the quantizer parameters, with the settings that method alone reads. One record per method; the
/// JSON <c>type</c> is the method's name, given by the record's <see cref="MethodNameAttribute"/> (the one place a name
/// is written), and a config's hash covers only its own method's record. docs/methods.md describes each method.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
public abstract record MethodSettings
{
    /// <summary>The method's name in configs, presets and results (<c>minmax</c>, <c>fpq-baseline</c>, <c>fpq</c>, …).</summary>
    [JsonIgnore] public string Name => MethodRegistry.NameOf(GetType());

    /// <summary>Every method's name (of the kit and of the loaded assemblies that add methods), in ordinal order.</summary>
    public static IReadOnlyList<string> AllNames =>
        [.. MethodRegistry.Names.Where(p => typeof(MethodSettings).IsAssignableFrom(p.Key)).Select(p => p.Value).Order(StringComparer.Ordinal)];

    /// <summary>Throws <see cref="ArgumentException"/> naming the first setting of <paramref name="config"/> this method cannot work with.</summary>
    protected internal virtual void Validate(QuantConfig config) { }

    /// <summary>Throws unless every given spec is of <paramref name="kind"/>.</summary>
    private protected void RequireKind(QuantConfig config, NumberKind kind, string why)
    {
        foreach (var (spec, what) in new[] { (config.Weights, "weights"), (config.Activations, "activations"), (config.Embedding, "embedding") })
            if (spec is not null && spec.Kind != kind) throw new ArgumentException($"{what}: {Name} {why}.");
    }
}

/// <summary>MinMax: the clipping range of every scale slot is max|x| of the slot, no search (docs/methods.md §10).</summary>
[MethodName("minmax")]
public sealed record MinMaxSettings : MethodSettings;

/// <summary>The LLM-FP4 search settings shared by the searched baseline and FPQ (docs/methods.md §3).</summary>
public abstract record FpSearchSettings : MethodSettings
{
    /// <summary>The candidate grid and the rounds of the alternation.</summary>
    public SearchSettings Search { get; init; } = new();

    /// <summary>The activation granularity the method searches.</summary>
    [JsonIgnore] internal abstract Granularity ActivationGranularity { get; }

    /// <inheritdoc/>
    protected internal override void Validate(QuantConfig config)
    {
        Search.Validate();
        RequireKind(config, NumberKind.Fp, "searches FP formats; use minmax for INT");
        if (config.Weights is { } w && w.Granularity != Granularity.PerRow)
            throw new ArgumentException($"weights: the {Name} search picks one bias per output channel (per_row), got {w.Granularity}.");
        if (config.Activations is { } a && a.Granularity != ActivationGranularity)
            throw new ArgumentException($"activations: {Name} searches {(ActivationGranularity == Granularity.PerColumn ? "a pre-shifted per-channel bias (PerColumn)" : "one bias per tensor (PerTensor)")}, got {a.Granularity}.");
    }
}

/// <summary>The LLM-FP4 search of exponent bias and format per layer, one activation bias per tensor (docs/methods.md §3).</summary>
[MethodName("fpq-baseline")]
public sealed record FpqBaselineSettings : FpSearchSettings
{
    internal override Granularity ActivationGranularity => Granularity.PerTensor;
}

/// <summary>The search with a per-input-channel pre-shifted activation bias (docs/methods.md §4).</summary>
[MethodName("fpq")]
public sealed record FpqSettings : FpSearchSettings
{
    internal override Granularity ActivationGranularity => Granularity.PerColumn;
}

/// <summary>SmoothQuant: migrate activation outliers into the weights, then MinMax (docs/methods.md §10).</summary>
[MethodName("smoothquant")]
public sealed record SmoothQuantSettings : MethodSettings
{
    /// <summary>Migration strength α in s_j = max|X_j|^α / max|W_j|^(1-α).</summary>
    public double Alpha { get; init; } = 0.5;

    /// <inheritdoc/>
    protected internal override void Validate(QuantConfig config)
    {
        if (!(Alpha is >= 0 and <= 1)) throw new ArgumentException($"smoothquant alpha must lie in [0, 1], got {Alpha}.");
        if (config.Activations is null) throw new ArgumentException("smoothquant needs quantized activations (it moves their outliers into the weights).");
    }
}

/// <summary>GPTQ: sequential weight rounding with the inverse Hessian, activations by MinMax (docs/methods.md §10); the weight group size is the weights' <see cref="Granularity"/>.</summary>
[MethodName("gptq")]
public sealed record GptqSettings : MethodSettings
{
    /// <summary>Added to the Hessian diagonal, as a fraction of its mean.</summary>
    public double Damp { get; init; } = 0.01;

    /// <summary>The reference's lazy-update block; recorded, no effect on this CPU version's result.</summary>
    public int BlockSize { get; init; } = 128;

    /// <summary>Quantize columns in order of decreasing Hessian diagonal.</summary>
    public bool ActOrder { get; init; }

    /// <inheritdoc/>
    protected internal override void Validate(QuantConfig config)
    {
        if (!(Damp > 0)) throw new ArgumentException($"gptq damp must be positive, got {Damp}.");
        if (BlockSize < 1) throw new ArgumentException($"gptq block_size must be at least 1, got {BlockSize}.");
        if (config.Method is GptqSettings && config.Weights is null) throw new ArgumentException("gptq needs quantized weights.");
    }
}

/// <summary>Settings shared by the INT methods RPTQ and FPTQ: INT formats only, no embedding, static activation specs.</summary>
public abstract record IntMethodSettings : MethodSettings
{
    /// <summary>Round the weights with GPTQ (these settings) instead of to nearest; null = round to nearest.</summary>
    public GptqSettings? Gptq { get; init; }

    /// <inheritdoc/>
    protected internal override void Validate(QuantConfig config)
    {
        Gptq?.Validate(config);
        RequireKind(config, NumberKind.Int, "quantizes to INT formats");
        if (config.Embedding is not null) throw new ArgumentException($"embedding: {Name} keeps the embedding in full precision (set it to null).");
        if (config.Activations is { Dynamic: true }) throw new ArgumentException($"activations: {Name} decides per layer which inputs are dynamic; give a static spec.");
    }
}

/// <summary>
/// RPTQ settings (docs/methods.md §7): k-means cluster counts for the reordered channels. Norm outputs (the residual
/// stream) and the MLP hidden input get <see cref="Clusters"/> clusters; the attention output gets
/// <see cref="HeadClusters"/> clusters inside each attention head, because its reorder is fused into the value
/// projection's rows and must not move a channel across heads.
/// </summary>
[MethodName("rptq")]
public sealed record RptqSettings : IntMethodSettings
{
    /// <summary>Clusters of the residual channels and of the MLP hidden channels.</summary>
    public int Clusters { get; init; } = 32;

    /// <summary>Clusters per attention head of the attention output.</summary>
    public int HeadClusters { get; init; } = 4;

    /// <summary>k-means restarts (n_init); the clustering with the least within-cluster squared distance wins.</summary>
    public int Restarts { get; init; } = 10;

    /// <summary>Seed of the k-means++ seeding.</summary>
    public int Seed { get; init; }

    /// <inheritdoc/>
    protected internal override void Validate(QuantConfig config)
    {
        base.Validate(config);
        if (Clusters < 1 || HeadClusters < 1 || Restarts < 1)
            throw new ArgumentException($"rptq: clusters, head_clusters and restarts must be at least 1, got {Clusters}, {HeadClusters}, {Restarts}.");
        if (config.Activations is { Symmetric: true }) throw new ArgumentException("activations: rptq gives each cluster an asymmetric range (symmetric: false).");
        if (config.Activations is { } a && a.Granularity != Granularity.PerTensor)
            throw new ArgumentException($"activations: rptq's ranges are per cluster of channels; give per_tensor, got {a.Granularity}.");
        if (config.Weights is { } w && w.Granularity != Granularity.PerRow)
            throw new ArgumentException($"weights: rptq's weight ranges are per output channel × input cluster; give per_row, got {w.Granularity}.");
    }
}

/// <summary>FPTQ's layer policy by v = max|X| of a layer's input (docs/methods.md §8).</summary>
[MethodName("fptq")]
public sealed record FptqSettings : IntMethodSettings
{
    /// <summary>Below this, per-tensor static INT8.</summary>
    public double EqualizeFrom { get; init; } = 15;

    /// <summary>From this on, per-token dynamic INT8; in between, logarithmic activation equalization then per-tensor static.</summary>
    public double DynamicFrom { get; init; } = 150;

    /// <inheritdoc/>
    protected internal override void Validate(QuantConfig config)
    {
        base.Validate(config);
        if (!(EqualizeFrom > 0) || !(DynamicFrom >= EqualizeFrom))
            throw new ArgumentException($"fptq: need 0 < equalize_from <= dynamic_from, got {EqualizeFrom} and {DynamicFrom}.");
    }
}

/// <summary>
/// Everything that decides a quantized model: formats per tensor kind, which points are quantized, the method with its
/// own settings, the calibration data. Serialises to snake_case JSON; <see cref="Hash"/> identifies the settings (the
/// <see cref="Name"/> label excluded), so results are filed by it. The hash covers the common fields and the chosen
/// method's settings only: another method's defaults cannot change it.
/// </summary>
public sealed record QuantConfig
{
    /// <summary>Label only (e.g. the preset "fpq:4/4/4"); not part of <see cref="Hash"/>.</summary>
    public string? Name { get; init; }

    /// <summary>The method and its settings.</summary>
    public required MethodSettings Method { get; init; }

    /// <summary>Linear weights, one scale / bias per output channel (or group); null keeps them in full precision.</summary>
    public QuantSpec? Weights { get; init; }

    /// <summary>Linear-layer inputs; null keeps them in full precision.</summary>
    public QuantSpec? Activations { get; init; }

    /// <summary>The token embedding table, one scale / bias per row; null keeps it in full precision.</summary>
    public QuantSpec? Embedding { get; init; }

    /// <summary>Whether the output head (lm_head) counts as a linear layer (weight and input) — LLM-FP4 quantizes it.</summary>
    public bool QuantizeLmHead { get; init; } = true;

    /// <summary>The operands of QKᵀ and PV (q, k, softmax output, v), per tensor; null = off (the reference keeps them in full precision).</summary>
    public QuantSpec? AttentionMatMuls { get; init; }

    /// <summary>The calibration windows.</summary>
    public CalibrationDataSettings Calibration { get; init; } = new();

    /// <summary>
    /// Store the linear weights packed (FP6 E3M2 per output channel as 4+2 bit planes, or INT4 per group as nibbles,
    /// see <see cref="Quantization.PackedWeights"/>) and multiply from the packed form. Left out of the JSON and the hash when false.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool PackWeights { get; init; }

    internal static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        RespectNullableAnnotations = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        AllowOutOfOrderMetadataProperties = true,
        // Each method's settings and per-layer result records join their polymorphic base through their [MethodName].
        TypeInfoResolver = new DefaultJsonTypeInfoResolver { Modifiers = { MethodRegistry.AddDerivedTypes } },
    };

    /// <summary>Short SHA-256 (12 hex digits) of <see cref="CanonicalJson"/>.</summary>
    [JsonIgnore]
    public string Hash => HashOf(JsonSerializer.SerializeToNode(this with { Name = null }, JsonOptions));

    /// <summary>What <see cref="Hash"/> hashes: the JSON with keys sorted, no whitespace, <see cref="Name"/> left out.</summary>
    [JsonIgnore]
    public string CanonicalJson => Canonical(JsonSerializer.SerializeToNode(this with { Name = null }, JsonOptions));

    /// <summary>The config with the search grid <paramref name="search"/> when its method searches (FPQ baseline, FPQ); unchanged otherwise.</summary>
    public QuantConfig WithSearch(SearchSettings search) => Method is FpSearchSettings searched ? this with { Method = searched with { Search = search } } : this;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first inconsistent setting.</summary>
    public void Validate()
    {
        if (Method is null) throw new ArgumentException("method: no method given.");
        Weights?.Validate("weights");
        Activations?.Validate("activations");
        Embedding?.Validate("embedding");
        AttentionMatMuls?.Validate("attention_mat_muls");
        if (AttentionMatMuls is { } attention && (attention.Granularity != Granularity.PerTensor || attention.Dynamic))
            throw new ArgumentException("attention_mat_muls: the attention operands take one static scale per tensor (per_tensor, not dynamic).");
        if (Weights is { Dynamic: true }) throw new ArgumentException("weights: dynamic quantization applies to activations only.");
        if (Embedding is { Dynamic: true }) throw new ArgumentException("embedding: dynamic quantization applies to activations only.");
        if (Calibration.Samples < 1 || Calibration.SequenceLength < 2)
            throw new ArgumentException($"calibration: need at least 1 sample of at least 2 tokens, got {Calibration.Samples} × {Calibration.SequenceLength}.");
        Method.Validate(this);
        if (PackWeights && Weights is not ({ Kind: NumberKind.Fp, Bits: 6, ExponentBits: 3, Granularity.Kind: GranularityKind.PerRow }
                or { Kind: NumberKind.Int, Bits: 4, Granularity.Kind: GranularityKind.PerGroup }))
            throw new ArgumentException("pack_weights: packed storage exists for FP6 E3M2 per_row weights and INT4 per_group weights only.");
        if (PackWeights && Method is not (MinMaxSettings or GptqSettings))
            throw new ArgumentException($"pack_weights: packing takes the weights of minmax or gptq, not {Method.Name}.");
        if (Activations is { Granularity.Kind: GranularityKind.PerColumn } && Method is not FpqSettings)
            throw new ArgumentException("activations: per-column (per input channel) scales are the FPQ pre-shifted bias; use method fpq.");
        if (Activations is { Dynamic: false, Granularity.Kind: GranularityKind.PerRow or GranularityKind.PerGroup })
            throw new ArgumentException("activations: per-token (per_row) scales must be dynamic (computed at run time).");
    }

    /// <summary>The config as indented snake_case JSON (what <see cref="FromJson"/> reads).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Parses and validates a config; <paramref name="source"/> names the file in errors.</summary>
    /// <exception cref="InvalidDataException">Not a valid config; the message names <paramref name="source"/> and the setting.</exception>
    public static QuantConfig FromJson(string json, string source = "config")
    {
        QuantConfig? config;
        try
        {
            config = JsonSerializer.Deserialize<QuantConfig>(json, JsonOptions);
        }
        catch (Exception ex) when (ex is JsonException or ArgumentException or NotSupportedException)
        {
            string hint = LegacyConfig.IsLegacy(json)
                ? " — this is the earlier flat layout, where \"method\" was a name; write it as {\"type\": NAME, …settings} (docs/methods.md, \"Configs\")"
                : "";
            throw new InvalidDataException($"{source}: not a valid quantization config ({ex.Message}){hint}", ex);
        }
        if (config is null) throw new InvalidDataException($"{source}: empty quantization config.");
        try { config.Validate(); }
        catch (ArgumentException ex) { throw new InvalidDataException($"{source}: {ex.Message}", ex); }
        return config;
    }

    /// <summary>A preset name (see <see cref="QuantPresets"/>) or the path of a JSON config file.</summary>
    public static QuantConfig Resolve(string nameOrPath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(nameOrPath);
        if (File.Exists(nameOrPath))
            return FromJson(File.ReadAllText(nameOrPath), nameOrPath);
        if (nameOrPath.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            throw new FileNotFoundException($"Quantization config file not found: {nameOrPath}", nameOrPath);
        return QuantPresets.Get(nameOrPath);
    }

    /// <summary>Short SHA-256 (12 hex digits) of a JSON node's canonical form (keys sorted, no whitespace).</summary>
    internal static string HashOf(JsonNode? node) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Canonical(node))))[..12];

    private static string Canonical(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject obj:
                var members = obj.OrderBy(p => p.Key, StringComparer.Ordinal)
                    .Select(p => JsonSerializer.Serialize(p.Key) + ":" + Canonical(p.Value));
                return "{" + string.Join(",", members) + "}";
            case JsonArray array:
                return "[" + string.Join(",", array.Select(Canonical)) + "]";
            case null:
                return "null";
            default:
                return node.ToJsonString();
        }
    }
}

/// <summary>
/// The config layout of results saved before the per-method settings (method as a name, every method's settings side by
/// side): recognised so that such a result folder can still be read (<see cref="ToCurrent"/>), with its hash checked the
/// way it was computed then.
/// </summary>
internal static class LegacyConfig
{
    /// <summary>True when <paramref name="json"/> is a config object whose <c>method</c> is a string.</summary>
    public static bool IsLegacy(string json)
    {
        try { return IsLegacy(JsonNode.Parse(json)); }
        catch (JsonException) { return false; }
    }

    public static bool IsLegacy(JsonNode? config) => config is JsonObject o && o["method"] is JsonValue v && v.GetValueKind() == JsonValueKind.String;

    /// <summary>The hash the earlier kit gave this config: the same canonical JSON, name left out.</summary>
    public static string LegacyHash(JsonObject config)
    {
        var copy = config.DeepClone().AsObject();
        copy["name"] = null;
        return QuantConfig.HashOf(copy);
    }

    /// <summary>The same settings in the current layout: the method's own settings moved into <c>method</c>, the others dropped.</summary>
    public static JsonObject ToCurrent(JsonObject legacy)
    {
        var config = legacy.DeepClone().AsObject();
        string method = config["method"]!.GetValue<string>();
        var settings = new JsonObject { ["type"] = method };
        JsonNode? Take(string key)
        {
            var value = config[key];
            config.Remove(key);
            return value?.DeepClone();
        }
        var search = Take("search");
        var smooth = Take("smooth_quant");
        var gptq = Take("gptq");
        var rptq = Take("rptq");
        var fptq = Take("fptq");
        void CopyInto(JsonNode? source, bool roundsWithGptq)
        {
            if (source is not JsonObject o) return;
            foreach (var (key, value) in o)
                if (key == "gptq") { if (roundsWithGptq && value?.GetValue<bool>() == true) settings["gptq"] = gptq; }
                else settings[key] = value?.DeepClone();
            if (roundsWithGptq && !settings.ContainsKey("gptq")) settings["gptq"] = null;
        }
        switch (method)
        {
            case "fpq-baseline" or "fpq": settings["search"] = search; break;
            case "smoothquant": CopyInto(smooth, false); break;
            case "gptq": CopyInto(gptq, false); break;
            case "rptq": CopyInto(rptq, true); break;
            case "fptq": CopyInto(fptq, true); break;
        }
        config["method"] = settings;
        return config;
    }
}
