using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using LlmFp4.Kit.Formats;

namespace LlmFp4.Kit.Quantization;

/// <summary>Integer or floating-point codes.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<NumberKind>))]
public enum NumberKind
{
    [JsonStringEnumMemberName("int")] Int,
    [JsonStringEnumMemberName("fp")] Fp,
}

/// <summary>How the quantizer parameters are found.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<QuantMethod>))]
public enum QuantMethod
{
    /// <summary>Scale / exponent bias from max|x|, no search (METHODS §10).</summary>
    [JsonStringEnumMemberName("minmax")] MinMax,

    /// <summary>LLM-FP4 search of exponent bias and format per layer (METHODS §3).</summary>
    [JsonStringEnumMemberName("fpq-baseline")] FpqBaseline,

    /// <summary>The search with a per-input-channel pre-shifted activation bias (METHODS §4).</summary>
    [JsonStringEnumMemberName("fpq")] Fpq,

    /// <summary>Migrate activation outliers into the weights, then MinMax (METHODS §10).</summary>
    [JsonStringEnumMemberName("smoothquant")] SmoothQuant,

    /// <summary>Sequential weight rounding with the inverse Hessian, activations by MinMax (METHODS §10).</summary>
    [JsonStringEnumMemberName("gptq")] Gptq,

    /// <summary>RPTQ: channels clustered by (min, max) and reordered so each cluster has its own INT range (METHODS §7, <see cref="RptqSettings"/>).</summary>
    [JsonStringEnumMemberName("rptq")] Rptq,

    /// <summary>FPTQ: per-layer INT8 activation policy by max|X| with logarithmic equalization, group-wise INT4 weights (METHODS §8, <see cref="FptqSettings"/>).</summary>
    [JsonStringEnumMemberName("fptq")] Fptq,
}

/// <summary>
/// The number format of one kind of tensor (weights, activations, embedding or attention operands).
/// FP: <see cref="Bits"/> = 1 + e + m with <see cref="ExponentBits"/> the starting e; the searches try the
/// mantissa widths in <see cref="SearchMantissaBits"/>. INT: symmetric or asymmetric, static or per-token dynamic.
/// </summary>
public sealed record QuantSpec
{
    public required NumberKind Kind { get; init; }
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

    public override string ToString() => Kind == NumberKind.Int
        ? $"{(Symmetric ? "INT" : "UINT")}{Bits} {Granularity}{(Dynamic ? " dynamic" : "")}"
        : $"FP{Bits} E{ExponentBits}M{Bits - 1 - ExponentBits} {Granularity}";
}

/// <summary>The candidate grid and alternation of the LLM-FP4 search (METHODS §3).</summary>
public sealed record SearchSettings
{
    public double Gamma1 { get; init; } = 0.01;
    public double Gamma2 { get; init; } = 1.2;

    /// <summary>k: the grid is γ_i = γ1 + i (γ2 - γ1) / k.</summary>
    public int Steps { get; init; } = 100;

    public int Rounds { get; init; } = 3;

    /// <summary>Try i = 0..k (true) or stop at k - 1 like the reference code's loop (false).</summary>
    public bool IncludeEndpoint { get; init; } = true;

    /// <summary>The multipliers γ_i applied to the starting bias.</summary>
    public double[] Multipliers()
    {
        int count = IncludeEndpoint ? Steps + 1 : Steps;
        return [.. Enumerable.Range(0, count).Select(i => Gamma1 + i * (Gamma2 - Gamma1) / Steps)];
    }
}

/// <summary>N windows of L tokens from the training split, drawn with a seed.</summary>
public sealed record CalibrationDataSettings
{
    public int Samples { get; init; } = 32;
    public int SequenceLength { get; init; } = 512;
    public int Seed { get; init; }
}

public sealed record SmoothQuantSettings
{
    /// <summary>Migration strength α in s_j = max|X_j|^α / max|W_j|^(1-α).</summary>
    public double Alpha { get; init; } = 0.5;
}

/// <summary>GPTQ settings; the weight group size is the weights' <see cref="Granularity"/> (PerGroup(g)).</summary>
public sealed record GptqSettings
{
    /// <summary>Added to the Hessian diagonal, as a fraction of its mean.</summary>
    public double Damp { get; init; } = 0.01;
    public int BlockSize { get; init; } = 128;

    /// <summary>Quantize columns in order of decreasing Hessian diagonal.</summary>
    public bool ActOrder { get; init; }
}

/// <summary>
/// RPTQ settings: k-means cluster counts for the reordered channels. Norm outputs (the residual stream, which all
/// q/k/v, gate/up and lm_head inputs read) and the down_proj input get <see cref="Clusters"/> clusters; the o_proj input
/// (attention output) gets <see cref="HeadClusters"/> clusters inside each attention head, because the reorder there is
/// fused into v_proj's rows and must not move a channel across heads.
/// </summary>
public sealed record RptqSettings
{
    public int Clusters { get; init; } = 32;
    public int HeadClusters { get; init; } = 4;

    /// <summary>k-means restarts (n_init); the clustering with the least within-cluster squared distance wins.</summary>
    public int Restarts { get; init; } = 10;
    public int Seed { get; init; }

    /// <summary>Round the weights with GPTQ (on the per output channel × input cluster grid) instead of to nearest.</summary>
    public bool Gptq { get; init; }
}

/// <summary>FPTQ's layer policy by v = max|X| of a layer's input (METHODS §8).</summary>
public sealed record FptqSettings
{
    /// <summary>Below this, per-tensor static INT8.</summary>
    public double EqualizeFrom { get; init; } = 15;

    /// <summary>From this on, per-token dynamic INT8; in between, logarithmic activation equalization then per-tensor static.</summary>
    public double DynamicFrom { get; init; } = 150;

    /// <summary>Round the weights with GPTQ instead of to nearest (METHODS does not say FPTQ does; off by default).</summary>
    public bool Gptq { get; init; }
}

/// <summary>
/// Everything that decides a quantized model: formats per tensor kind, which points are quantized, the method and
/// its settings, the calibration data. Serialises to snake_case JSON; <see cref="Hash"/> identifies the settings
/// (the <see cref="Name"/> label excluded), so results are filed by it.
/// </summary>
public sealed record QuantConfig
{
    /// <summary>Label only (e.g. the preset "fpq:4/4/4"); not part of <see cref="Hash"/>.</summary>
    public string? Name { get; init; }

    public required QuantMethod Method { get; init; }

    /// <summary>Linear weights, one scale / bias per output channel (or group); null keeps them in full precision.</summary>
    public QuantSpec? Weights { get; init; }

    /// <summary>Linear-layer inputs; null keeps them in full precision.</summary>
    public QuantSpec? Activations { get; init; }

    /// <summary>The token embedding table, one scale / bias per row; null keeps it in full precision.</summary>
    public QuantSpec? Embedding { get; init; }

    /// <summary>Whether lm_head counts as a linear layer (weight and input) — LLM-FP4 quantizes it.</summary>
    public bool QuantizeLmHead { get; init; } = true;

    /// <summary>The operands of QKᵀ and PV (q, k, softmax output, v), per tensor; null = off (the reference keeps them in full precision).</summary>
    public QuantSpec? AttentionMatMuls { get; init; }

    public SearchSettings Search { get; init; } = new();
    public CalibrationDataSettings Calibration { get; init; } = new();
    public SmoothQuantSettings SmoothQuant { get; init; } = new();
    public GptqSettings Gptq { get; init; } = new();

    /// <summary>RPTQ only (null otherwise; left out of the JSON and the hash when null).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public RptqSettings? Rptq { get; init; }

    /// <summary>FPTQ only (null otherwise; left out of the JSON and the hash when null).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public FptqSettings? Fptq { get; init; }

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
    };

    /// <summary>Short SHA-256 (12 hex digits) of the canonical JSON: keys sorted, no whitespace, <see cref="Name"/> left out.</summary>
    [JsonIgnore]
    public string Hash
    {
        get
        {
            var node = JsonSerializer.SerializeToNode(this with { Name = null }, JsonOptions)!;
            var bytes = Encoding.UTF8.GetBytes(Canonical(node));
            return Convert.ToHexStringLower(SHA256.HashData(bytes))[..12];
        }
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first inconsistent setting.</summary>
    public void Validate()
    {
        Weights?.Validate("weights");
        Activations?.Validate("activations");
        Embedding?.Validate("embedding");
        AttentionMatMuls?.Validate("attention_mat_muls");
        if (AttentionMatMuls is { } attention && (attention.Granularity != Granularity.PerTensor || attention.Dynamic))
            throw new ArgumentException("attention_mat_muls: the attention operands take one static scale per tensor (per_tensor, not dynamic).");
        if (Weights is { Dynamic: true }) throw new ArgumentException("weights: dynamic quantization applies to activations only.");
        if (Embedding is { Dynamic: true }) throw new ArgumentException("embedding: dynamic quantization applies to activations only.");
        if (Search.Steps < 1) throw new ArgumentException($"search.steps must be at least 1, got {Search.Steps}.");
        if (Search.Rounds < 1) throw new ArgumentException($"search.rounds must be at least 1, got {Search.Rounds}.");
        if (!(Search.Gamma1 > 0) || !(Search.Gamma2 > Search.Gamma1))
            throw new ArgumentException($"search: need 0 < gamma1 < gamma2, got gamma1={Search.Gamma1}, gamma2={Search.Gamma2}.");
        if (Calibration.Samples < 1 || Calibration.SequenceLength < 2)
            throw new ArgumentException($"calibration: need at least 1 sample of at least 2 tokens, got {Calibration.Samples} × {Calibration.SequenceLength}.");
        if (!(SmoothQuant.Alpha is >= 0 and <= 1)) throw new ArgumentException($"smooth_quant.alpha must lie in [0, 1], got {SmoothQuant.Alpha}.");
        if (!(Gptq.Damp > 0)) throw new ArgumentException($"gptq.damp must be positive, got {Gptq.Damp}.");
        if (Gptq.BlockSize < 1) throw new ArgumentException($"gptq.block_size must be at least 1, got {Gptq.BlockSize}.");

        switch (Method)
        {
            case QuantMethod.FpqBaseline or QuantMethod.Fpq:
                foreach (var (spec, what) in new[] { (Weights, "weights"), (Activations, "activations"), (Embedding, "embedding") })
                    if (spec is { Kind: NumberKind.Int })
                        throw new ArgumentException($"{what}: the {MethodName(Method)} search is for FP formats; use minmax for INT.");
                if (Weights is { } w && w.Granularity != Granularity.PerRow)
                    throw new ArgumentException($"weights: the {MethodName(Method)} search picks one bias per output channel (per_row), got {w.Granularity}.");
                var expected = Method == QuantMethod.Fpq ? Granularity.PerColumn : Granularity.PerTensor;
                if (Activations is { } a && a.Granularity != expected)
                    throw new ArgumentException($"activations: {MethodName(Method)} searches {(Method == QuantMethod.Fpq ? "a pre-shifted per-channel bias (PerColumn)" : "one bias per tensor (PerTensor)")}, got {a.Granularity}.");
                break;
            case QuantMethod.SmoothQuant:
                if (Activations is null) throw new ArgumentException("smoothquant needs quantized activations (it moves their outliers into the weights).");
                break;
            case QuantMethod.Gptq:
                if (Weights is null) throw new ArgumentException("gptq needs quantized weights.");
                break;
            case QuantMethod.Rptq or QuantMethod.Fptq:
                foreach (var (spec, what) in new[] { (Weights, "weights"), (Activations, "activations") })
                    if (spec is { Kind: NumberKind.Fp })
                        throw new ArgumentException($"{what}: {MethodName(Method)} quantizes to INT formats.");
                if (Embedding is not null) throw new ArgumentException($"embedding: {MethodName(Method)} keeps the embedding in full precision (set it to null).");
                if (Activations is { Dynamic: true }) throw new ArgumentException($"activations: {MethodName(Method)} decides per layer which inputs are dynamic; give a static spec.");
                break;
        }
        if (Method == QuantMethod.Rptq)
        {
            var rptq = Rptq ?? throw new ArgumentException("rptq needs its settings (the rptq section).");
            if (rptq.Clusters < 1 || rptq.HeadClusters < 1 || rptq.Restarts < 1)
                throw new ArgumentException($"rptq: clusters, head_clusters and restarts must be at least 1, got {rptq.Clusters}, {rptq.HeadClusters}, {rptq.Restarts}.");
            if (Activations is { Symmetric: true }) throw new ArgumentException("activations: rptq gives each cluster an asymmetric range (symmetric: false).");
            if (Activations is { } a && a.Granularity != Granularity.PerTensor)
                throw new ArgumentException($"activations: rptq's ranges are per cluster of channels; give per_tensor, got {a.Granularity}.");
            if (Weights is { } w && w.Granularity != Granularity.PerRow)
                throw new ArgumentException($"weights: rptq's weight ranges are per output channel × input cluster; give per_row, got {w.Granularity}.");
        }
        else if (Rptq is not null) throw new ArgumentException($"the rptq section applies to method rptq only, not {MethodName(Method)}.");
        if (Method == QuantMethod.Fptq)
        {
            var fptq = Fptq ?? throw new ArgumentException("fptq needs its settings (the fptq section).");
            if (!(fptq.EqualizeFrom > 0) || !(fptq.DynamicFrom >= fptq.EqualizeFrom))
                throw new ArgumentException($"fptq: need 0 < equalize_from <= dynamic_from, got {fptq.EqualizeFrom} and {fptq.DynamicFrom}.");
        }
        else if (Fptq is not null) throw new ArgumentException($"the fptq section applies to method fptq only, not {MethodName(Method)}.");
        if (PackWeights && Weights is not ({ Kind: NumberKind.Fp, Bits: 6, ExponentBits: 3, Granularity.Kind: GranularityKind.PerRow }
                or { Kind: NumberKind.Int, Bits: 4, Granularity.Kind: GranularityKind.PerGroup }))
            throw new ArgumentException("pack_weights: packed storage exists for FP6 E3M2 per_row weights and INT4 per_group weights only.");
        if (PackWeights && Method is not (QuantMethod.MinMax or QuantMethod.Gptq))
            throw new ArgumentException($"pack_weights: packing takes the weights of minmax or gptq, not {MethodName(Method)}.");
        if (Activations is { Granularity.Kind: GranularityKind.PerColumn } && Method != QuantMethod.Fpq)
            throw new ArgumentException("activations: per-column (per input channel) scales are the FPQ pre-shifted bias; use method fpq.");
        if (Activations is { Dynamic: false, Granularity.Kind: GranularityKind.PerRow or GranularityKind.PerGroup })
            throw new ArgumentException("activations: per-token (per_row) scales must be dynamic (computed at run time).");
    }

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Parses and validates a config; <paramref name="source"/> names the file in errors.</summary>
    public static QuantConfig FromJson(string json, string source = "config")
    {
        QuantConfig? config;
        try
        {
            config = JsonSerializer.Deserialize<QuantConfig>(json, JsonOptions);
        }
        catch (Exception ex) when (ex is JsonException or ArgumentException or NotSupportedException)
        {
            throw new InvalidDataException($"{source}: not a valid quantization config ({ex.Message})", ex);
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

    public static string MethodName(QuantMethod method) => JsonSerializer.Serialize(method).Trim('"');

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
