using System.Globalization;
using System.Text.RegularExpressions;
using LlmFp4.Kit.Formats;

namespace LlmFp4.Kit.Quantization;

/// <summary>
/// The paper's rows as named configs: <c>METHOD[:BITS]</c> with METHOD one of <see cref="Methods"/> and BITS either
/// <c>wXaY</c> (embedding bits = weight bits) or the paper's E/W/A triple such as <c>4/4/4</c> or <c>16/8/8</c>;
/// 16 bits means "left in full precision". Without BITS a method takes its paper default (<see cref="DefaultBits"/>).
/// The related methods have fixed names instead (<see cref="Named"/>): rptq-w4a4, rptq-w4a3, rptq-w3a3, fptq-w4a8,
/// fp6-w6a16, int4-w4a16, int4-gptq-w4a16.
/// </summary>
public static partial class QuantPresets
{
    /// <summary>
    /// The search of the <c>fpq-fast</c> preset, the budget for long runs: FPQ with k = 20 (21 candidates with the endpoint)
    /// and 1 round instead of the paper's k = 100 and 3 rounds, following the reference code's advice to cut rounds and
    /// candidates when calibration takes too long. Its measured cost and perplexity on the default model: benchmarks/README.md.
    /// </summary>
    public static SearchSettings FastSearch { get; } = new() { Steps = 20, Rounds = 1 };

    /// <summary>
    /// The preset methods, the one table of their names: preset name, the label tables and figures show, the number
    /// kind of its formats, its paper default bits, and the method settings it runs.
    /// </summary>
    public static IReadOnlyList<PresetMethod> Table { get; } =
    [
        new("minmax-int", "MinMax INT", NumberKind.Int, "4/4/4", () => new MinMaxSettings()),
        new("minmax-fp", "MinMax FP", NumberKind.Fp, "4/4/4", () => new MinMaxSettings()),
        new("fpq-baseline", "FPQ baseline", NumberKind.Fp, "4/4/4", () => new FpqBaselineSettings()),
        new("fpq", "FPQ", NumberKind.Fp, "4/4/4", () => new FpqSettings()),
        new("fpq-fast", "FPQ fast", NumberKind.Fp, "4/4/4", () => new FpqSettings { Search = FastSearch }),
        new("smoothquant", "SmoothQuant", NumberKind.Int, "16/8/8", () => new SmoothQuantSettings()),
        new("gptq", "GPTQ", NumberKind.Int, "4/4/16", () => new GptqSettings()),
        new("gptq-fp", "GPTQ (FP grid)", NumberKind.Fp, "4/4/16", () => new GptqSettings()),
    ];

    /// <summary>Preset methods in listing order.</summary>
    public static IReadOnlyList<string> Methods { get; } = [.. Table.Select(m => m.Name)];

    /// <summary>Named bit settings besides E/W/A triples.</summary>
    public static IReadOnlyList<string> BitSettings { get; } = ["w8a8", "w4a16", "w4a8", "w4a4"];

    /// <summary>Bits a method gets when none are given: the paper's headline row for it.</summary>
    public static string DefaultBits(string method) => Find(method)?.DefaultBits ?? "4/4/4";

    /// <summary>
    /// The table label of a preset name: "MinMax INT 4/4/4", "FPQ baseline 4/4/8"; a named related-method preset in
    /// capitals ("RPTQ W4A4", "INT4-GPTQ W4A16"); a name that is not a preset is returned as it is.
    /// </summary>
    public static string Label(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        int colon = name.IndexOf(':');
        if (colon < 0 && Named.ContainsKey(name))
        {
            // "rptq-w4a4" → "RPTQ W4A4", as the related methods' papers write them.
            int dash = name.LastIndexOf('-');
            return $"{name[..dash].ToUpperInvariant()} {name[(dash + 1)..].ToUpperInvariant()}";
        }
        if (colon < 0) return name;
        return Find(name[..colon]) is { } method ? $"{method.Label} {name[(colon + 1)..]}" : name;
    }

    private static PresetMethod? Find(string method) => Table.FirstOrDefault(m => m.Name == method);

    /// <summary>Every valid method × named bit setting (SmoothQuant needs quantized activations, so it has no w4a16), then <see cref="Named"/>.</summary>
    public static IEnumerable<string> Names() =>
        Methods.SelectMany(m => BitSettings.Where(b => !(m == "smoothquant" && b.EndsWith("a16", StringComparison.Ordinal))).Select(b => $"{m}:{b}"))
            .Concat(Named.Keys);

    /// <summary>
    /// The related methods' settings (docs/methods.md §7–9), by name. None quantizes the embedding, lm_head or the attention
    /// matmuls (as in those papers); every other linear layer's weight and input is covered:
    /// <list type="bullet">
    /// <item>rptq-wXaY: asymmetric INT-X weights per output channel × input cluster, and every linear input (the norm
    /// outputs feeding q/k/v and gate/up, the attention output feeding o_proj, the SwiGLU product feeding down_proj) at
    /// asymmetric INT-Y per cluster — the norm outputs too, unlike the reference, which keeps them at 8 bits.</item>
    /// <item>fptq-w4a8: symmetric INT4 weights per group of 128 input channels; INT8 inputs, static per tensor or
    /// per-token dynamic by the layer policy.</item>
    /// <item>fp6-w6a16: FP6 E3M2 weights, one scale per output channel (max|row| / 28), packed 4+2; inputs in full precision.</item>
    /// <item>int4-w4a16, int4-gptq-w4a16: symmetric INT4 weights per group of 128 (round to nearest, or GPTQ), packed as nibbles.</item>
    /// </list>
    /// </summary>
    public static IReadOnlyDictionary<string, Func<QuantConfig>> Named { get; } = new Dictionary<string, Func<QuantConfig>>
    {
        ["rptq-w4a4"] = () => Rptq(4, 4),
        ["rptq-w4a3"] = () => Rptq(4, 3),
        ["rptq-w3a3"] = () => Rptq(3, 3),
        ["fptq-w4a8"] = () => new QuantConfig
        {
            Method = new FptqSettings(),
            Weights = QuantSpec.Int(4, Granularity.PerGroup(128)),
            Activations = QuantSpec.Int(8, Granularity.PerTensor),
            QuantizeLmHead = false,
        },
        ["fp6-w6a16"] = () => new QuantConfig
        {
            Method = new MinMaxSettings(),
            Weights = QuantSpec.Fp(6, Granularity.PerRow) with { ExponentBits = 3, SearchMantissaBits = [] },
            QuantizeLmHead = false,
            PackWeights = true,
        },
        ["int4-w4a16"] = () => Int4Packed(new MinMaxSettings()),
        ["int4-gptq-w4a16"] = () => Int4Packed(new GptqSettings()),
    };

    private static QuantConfig Rptq(int weightBits, int activationBits) => new()
    {
        Method = new RptqSettings(),
        Weights = QuantSpec.Int(weightBits, Granularity.PerRow, symmetric: false),
        Activations = QuantSpec.Int(activationBits, Granularity.PerTensor, symmetric: false),
        QuantizeLmHead = false,
    };

    private static QuantConfig Int4Packed(MethodSettings method) => new()
    {
        Method = method,
        Weights = QuantSpec.Int(4, Granularity.PerGroup(128)),
        QuantizeLmHead = false,
        PackWeights = true,
    };

    /// <summary>The config named <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">Unknown method or bit setting; the message lists what exists.</exception>
    public static QuantConfig Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        string trimmed = name.Trim().ToLowerInvariant();
        if (Named.TryGetValue(trimmed, out var named))
        {
            var config = named() with { Name = trimmed };
            config.Validate();
            return config;
        }
        int colon = trimmed.IndexOf(':');
        string method = colon < 0 ? trimmed : trimmed[..colon];
        string bits = colon < 0 ? "" : trimmed[(colon + 1)..];
        if (!Methods.Contains(method))
            throw new ArgumentException(
                $"Unknown quantization config '{name}' (not a preset, and no such file). Presets: METHOD[:BITS] with METHOD one of " +
                $"{string.Join(", ", Methods)} and BITS one of {string.Join(", ", BitSettings)} or E/W/A such as 4/4/4, 16/8/8 " +
                $"(16 = full precision); or one of {string.Join(", ", Named.Keys)}; or give the path of a JSON config file.");
        var (embedding, weights, activations) = ParseBits(bits.Length == 0 ? DefaultBits(method) : bits, name);
        return Build(method, embedding, weights, activations) with
        {
            Name = $"{method}:{embedding}/{weights}/{activations}",
        };
    }

    private static (int Embedding, int Weights, int Activations) ParseBits(string bits, string name)
    {
        var named = NamedBits().Match(bits);
        if (named.Success)
        {
            int w = int.Parse(named.Groups["w"].Value, CultureInfo.InvariantCulture);
            return (w, w, int.Parse(named.Groups["a"].Value, CultureInfo.InvariantCulture));
        }
        var triple = TripleBits().Match(bits);
        if (triple.Success)
            return (int.Parse(triple.Groups["e"].Value, CultureInfo.InvariantCulture),
                int.Parse(triple.Groups["w"].Value, CultureInfo.InvariantCulture),
                int.Parse(triple.Groups["a"].Value, CultureInfo.InvariantCulture));
        throw new ArgumentException(
            $"Quantization config '{name}': bit setting '{bits}' is neither wXaY ({string.Join(", ", BitSettings)}) nor an E/W/A triple such as 4/4/4.");
    }

    private static QuantConfig Build(string name, int embeddingBits, int weightBits, int activationBits)
    {
        var method = Find(name)!;
        bool fp = method.Kind == NumberKind.Fp;
        var settings = method.Settings();
        QuantSpec? Spec(int bits, Granularity granularity) =>
            bits >= 16 ? null : fp ? QuantSpec.Fp(bits, granularity) : QuantSpec.Int(bits, granularity);

        var config = new QuantConfig
        {
            Method = settings,
            Weights = Spec(weightBits, Granularity.PerRow),
            Activations = Spec(activationBits, settings is FpqSettings ? Granularity.PerColumn : Granularity.PerTensor),
            Embedding = Spec(embeddingBits, Granularity.PerRow),
        };
        config.Validate();
        return config;
    }

    [GeneratedRegex(@"^w(?<w>\d{1,2})a(?<a>\d{1,2})$")]
    private static partial Regex NamedBits();

    [GeneratedRegex(@"^(?<e>\d{1,2})/(?<w>\d{1,2})/(?<a>\d{1,2})$")]
    private static partial Regex TripleBits();
}

/// <summary>One row of <see cref="QuantPresets.Table"/>.</summary>
/// <param name="Name">Preset method name (<c>minmax-int</c>, …), before the bits.</param>
/// <param name="Label">The method as tables and figures name it (<c>MinMax INT</c>).</param>
/// <param name="Kind">Number kind of its formats.</param>
/// <param name="DefaultBits">The paper's headline E/W/A bits for it.</param>
/// <param name="Settings">Makes the method settings it runs (with their defaults).</param>
public sealed record PresetMethod(string Name, string Label, NumberKind Kind, string DefaultBits, Func<MethodSettings> Settings);
