using System.Globalization;
using System.Text.Json.Serialization;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Quantization;

namespace LlmFp4.Kit.Calibration;

/// <summary>y = <see cref="Coefficient"/> · x^<see cref="Exponent"/>.</summary>
public readonly record struct PowerLaw(double Coefficient, double Exponent)
{
    /// <summary>The law's value at <paramref name="x"/>.</summary>
    public double At(double x) => Coefficient * Math.Pow(x, Exponent);

    /// <summary>
    /// The least-squares line through (ln x, ln y): the usual power-law fit. Needs two or more points with distinct
    /// positive x and positive y.
    /// </summary>
    /// <exception cref="ArgumentException">Fewer than two points, a non-positive value, or all x equal.</exception>
    public static PowerLaw Fit(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (x.Count != y.Count || x.Count < 2) throw new ArgumentException($"power-law fit: need two or more (x, y) pairs, got {x.Count} x and {y.Count} y.");
        if (x.Concat(y).Any(v => !(v > 0))) throw new ArgumentException("power-law fit: every x and y must be positive.");
        double[] lx = [.. x.Select(v => Math.Log(v))], ly = [.. y.Select(v => Math.Log(v))];
        double mx = lx.Average(), my = ly.Average();
        double sxx = lx.Sum(v => (v - mx) * (v - mx));
        if (sxx == 0) throw new ArgumentException("power-law fit: all x are equal.");
        double slope = lx.Zip(ly).Sum(p => (p.First - mx) * (p.Second - my)) / sxx;
        return new PowerLaw(Math.Exp(my - slope * mx), slope);
    }

    /// <summary>E.g. <c>3.1e-07 · x^1.27</c>.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Coefficient:G3} · x^{Exponent:F3}");
}

/// <summary>
/// The shape of a LLaMA model as far as calibration cost goes: hidden size, SwiGLU width, layers, query and key/value
/// heads, vocabulary (untied output head assumed, as in TinyLlama and LLaMA).
/// </summary>
public sealed record LlamaShape(int HiddenSize, int IntermediateSize, int Layers, int Heads, int KeyValueHeads, int VocabSize)
{
    /// <summary>Width of the key and value projections: key/value heads × head dimension.</summary>
    public long KeyValueWidth => (long)KeyValueHeads * (HiddenSize / Heads);

    /// <summary>Linear weights of one decoder layer: q, k, v, o, gate, up, down.</summary>
    public long LayerParameters => (long)HiddenSize * (2 * HiddenSize + 2 * KeyValueWidth) + 3L * HiddenSize * IntermediateSize;

    /// <summary>Every parameter: embedding, the layers' linear weights and two norms each, the final norm, the output head.</summary>
    public long Parameters => 2L * VocabSize * HiddenSize + Layers * (LayerParameters + 2L * HiddenSize) + HiddenSize;

    /// <summary>
    /// Floats per calibration token kept by a whole-model capture (<see cref="ActivationCapture.Run"/>, RPTQ): each layer's
    /// four linear inputs (q/k/v, o, gate/up, down) and the head's.
    /// </summary>
    public long CapturedFeatures => Layers * (3L * HiddenSize + IntermediateSize) + HiddenSize;

    /// <summary>
    /// Floats per calibration token held at once by the block-by-block capture (<see cref="StagedCapture"/>, every method
    /// but RPTQ): one decoder layer's four linear inputs (q/k/v, o and gate/up [hidden] each, down [intermediate]) and the
    /// residual stream kept between blocks [hidden]; the head's input [hidden] is smaller than a layer's.
    /// </summary>
    public long StreamedFeatures => 4L * HiddenSize + IntermediateSize;

    /// <summary>The shape of a Hugging Face LLaMA config.</summary>
    public static LlamaShape Of(LlamaConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new(config.HiddenSize, config.IntermediateSize, config.NumHiddenLayers, config.NumAttentionHeads, config.KeyValueHeads, config.VocabSize);
    }

    /// <summary>A Hugging Face config of this shape (untied head, 2,048 positions).</summary>
    public LlamaConfig ToLlamaConfig() => new()
    {
        VocabSize = VocabSize,
        HiddenSize = HiddenSize,
        IntermediateSize = IntermediateSize,
        NumHiddenLayers = Layers,
        NumAttentionHeads = Heads,
        NumKeyValueHeads = KeyValueHeads,
    };

    /// <summary>E.g. <c>hidden 2048, FFN 5632, 22 layers, 32/4 heads, vocab 32000 (1.10 B parameters)</c>; below a billion in M.</summary>
    public override string ToString()
    {
        string parameters = Parameters >= 1e9
            ? string.Create(CultureInfo.InvariantCulture, $"{Parameters / 1e9:F2} B")
            : string.Create(CultureInfo.InvariantCulture, $"{Parameters / 1e6:F1} M");
        return $"hidden {HiddenSize}, FFN {IntermediateSize}, {Layers} layers, {Heads}/{KeyValueHeads} heads, vocab {VocabSize} ({parameters} parameters)";
    }
}

/// <summary>
/// The budget knobs of an FPQ search calibration, N windows of L tokens, k (grid steps), R rounds, and the widths of the
/// searched formats (E/W/A bits, 0 where that part stays in full precision), which set how many values a candidate step
/// moves.
/// </summary>
public sealed record CostSetting(int Samples, int SequenceLength, int Steps, int Rounds)
{
    /// <summary>Bits of the embedding table's formats; 0: the embedding stays in full precision, so it is not searched.</summary>
    public int EmbeddingBits { get; init; } = 4;

    /// <summary>Bits of the linear layers' weight formats (the decoder layers' and lm_head's); 0: full precision.</summary>
    public int WeightBits { get; init; } = 4;

    /// <summary>Bits of the linear layers' input (activation) formats; 0: full precision.</summary>
    public int ActivationBits { get; init; } = 4;

    /// <summary>Calibration tokens N × L.</summary>
    public long Tokens => (long)Samples * SequenceLength;

    /// <summary>The knobs and widths of <paramref name="config"/>; a method without a search counts as k = 0, R = 0.</summary>
    public static CostSetting Of(QuantConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var search = (config.Method as FpSearchSettings)?.Search;
        return new(config.Calibration.Samples, config.Calibration.SequenceLength, search?.Steps ?? 0, search?.Rounds ?? 0)
        {
            EmbeddingBits = config.Embedding?.Bits ?? 0,
            WeightBits = config.Weights?.Bits ?? 0,
            ActivationBits = config.Activations?.Bits ?? 0,
        };
    }

    /// <summary>E.g. <c>32 × 512 tokens, k = 100, 3 rounds, E/W/A 4/4/4</c> (16 for a part in full precision, as in presets).</summary>
    public override string ToString() =>
        $"{Samples} × {SequenceLength} tokens, k = {Steps}, {Rounds} round{(Rounds == 1 ? "" : "s")}, E/W/A {Widths}";

    /// <summary>E/W/A as presets write them, e.g. <c>4/4/8</c>, 16 for a part in full precision.</summary>
    public string Widths => string.Join('/', Bits.Select(b => b == 0 ? 16 : b));

    /// <summary>The embedding's, weights' and activations' bits, in the order of <see cref="Widths"/>.</summary>
    [JsonIgnore]
    public IReadOnlyList<int> Bits => [EmbeddingBits, WeightBits, ActivationBits];
}

/// <summary>
/// How many times longer the search takes with 8-bit formats than with 4-bit ones, each a power law in the searched part's
/// parameters fitted on two model sizes. The search pays per value that a candidate step moves to another grid point:
/// the activation sweep adds each changed input's row of Ŵᵀ, or every input's where a third or more changed
/// (<see cref="ActivationSweep"/>), and the weight candidates redo each changed code's products (<see cref="WeightCodeSweep"/>)
/// or take dense products. A step of a 4-bit grid moves 0.5–3 % of the values, one of an 8-bit grid 8–90 %, and 8 bits
/// search five formats where 4 search three; the dense work grows with the layer's outputs, so the factors grow with size.
/// </summary>
/// <param name="LayerActivations">Decoder-layer search at W4A8 ÷ at W4A4, against the layer's linear parameters.</param>
/// <param name="LayerWeights">Decoder-layer search at W8A8 ÷ at W4A8, against the layer's linear parameters.</param>
/// <param name="HeadActivations">lm_head search at W4A8 ÷ at W4A4, against its parameters (hidden × vocab).</param>
/// <param name="HeadWeights">lm_head search at W8A8 ÷ at W4A8, against its parameters.</param>
/// <param name="Embedding">Embedding search at 8 bits ÷ at 4 bits, against its parameters (hidden × vocab).</param>
public sealed record WidthFactors(PowerLaw LayerActivations, PowerLaw LayerWeights, PowerLaw HeadActivations, PowerLaw HeadWeights, PowerLaw Embedding)
{
    /// <summary>No cost for width: every factor 1 (a model fitted without 8-bit points).</summary>
    public static WidthFactors None { get; } = new(new(1, 0), new(1, 0), new(1, 0), new(1, 0), new(1, 0));

    /// <summary><paramref name="factor"/> at <paramref name="parameters"/> for a format wider than 4 bits, else 1.</summary>
    public static double For(int bits, PowerLaw factor, double parameters) => bits > 4 ? factor.At(parameters) : 1;
}

/// <summary>
/// A projected calibration: CPU seconds per stage (the time on one core the calibration has to itself; with two threads
/// on two idle cores the wall time can be down to half) and the peak resident memory.
/// </summary>
public sealed record CostProjection(double CaptureSeconds, double LayerSeconds, double HeadSeconds, double EmbeddingSeconds, long PeakBytes)
{
    /// <summary>CPU seconds in all.</summary>
    public double Seconds => CaptureSeconds + LayerSeconds + HeadSeconds + EmbeddingSeconds;

    /// <summary>E.g. <c>3.2 h (capture 0.1 h, decoder layers 2.9 h, lm_head 0.2 h, embedding 0.0 h), peak memory 14.1 GB</c>.</summary>
    public override string ToString()
    {
        static string Time(double s) => s >= 3600 ? $"{s / 3600:F1} h" : s >= 60 ? $"{s / 60:F1} min" : $"{s:F1} s";
        return string.Create(CultureInfo.InvariantCulture,
            $"{Time(Seconds)} (capture {Time(CaptureSeconds)}, decoder layers {Time(LayerSeconds)}, lm_head {Time(HeadSeconds)}, " +
            $"embedding {Time(EmbeddingSeconds)}), peak memory {PeakBytes / 1e9:F1} GB");
    }
}

/// <summary>
/// A fitted cost model of an FPQ search calibration (<c>fpq</c> or <c>fpq-baseline</c>) on one machine, measured at
/// <see cref="Setting"/>: laws in the parameter counts, and exponents for the budget knobs. Times are CPU seconds, each
/// stage's wall time times the cores its run kept busy, which discounts the time a run on a shared machine waited. The
/// decoder layers' and the head's searches are each split in two (the search's stages, <see cref="SearchStages"/>, timed per
/// group): the weight candidates, scored through Grams whose size does not depend on the tokens, and the rest (the
/// activation sweep of <see cref="FpqSearch"/>, the Grams, the layer error), which grows with them. At the paper's k = 100
/// and 8 × 512 tokens the activation sweep is most of a 256-wide layer's search; the weight candidates, whose code changes
/// cost about in² per row (<see cref="WeightCodeSweep"/>, ∝ hidden³ per layer), are nearly half of a 2048-wide one's
/// (benchmarks/README.md, "Calibration cost curve").
/// </summary>
/// <param name="Setting">The knobs every size was measured at.</param>
/// <param name="Threads">Threads of the machine the model was measured on (the projection does not rescale for others).</param>
/// <param name="CapturePerToken">Seconds per calibration token of the full-precision capture, against the model's parameters.</param>
/// <param name="DecoderLayer">Seconds to search one decoder layer's four input groups, less its weight candidates, against its linear parameters.</param>
/// <param name="LayerWeightCandidates">Seconds of one decoder layer's weight candidates, against its linear parameters.</param>
/// <param name="LmHead">Seconds to search the output head, less its weight candidates, against its parameters (hidden × vocab).</param>
/// <param name="HeadWeightCandidates">Seconds of the output head's weight candidates, against its parameters.</param>
/// <param name="Embedding">Seconds to search the embedding table row by row, against its parameters.</param>
/// <param name="TokenExponent">
/// Search time less the weight candidates ∝ tokens^this (measured by doubling the tokens); the weight candidates do not
/// scale with the tokens.
/// </param>
/// <param name="CandidateExponent">Search time ∝ k^this (measured from k = 20 to 100).</param>
/// <param name="RoundExponent">Search time ∝ R^this (measured from R to R + 2; rounds stop early once a layer's choices repeat).</param>
/// <param name="Workspace">Peak RSS less the float32 weights and the captured inputs, in bytes, against the model's parameters.</param>
/// <param name="Widths">The search's cost at 8-bit formats against 4-bit ones (the laws above are fitted at 4 bits).</param>
public sealed record CostModel(CostSetting Setting, int Threads, PowerLaw CapturePerToken, PowerLaw DecoderLayer, PowerLaw LayerWeightCandidates,
    PowerLaw LmHead, PowerLaw HeadWeightCandidates, PowerLaw Embedding, double TokenExponent, double CandidateExponent, double RoundExponent,
    PowerLaw Workspace, WidthFactors Widths)
{
    /// <summary>Seconds to search one decoder layer with <paramref name="parameters"/> linear parameters at <see cref="Setting"/>, 4-bit formats.</summary>
    public double LayerSeconds(double parameters) => DecoderLayer.At(parameters) + LayerWeightCandidates.At(parameters);

    /// <summary>Seconds to search the output head with <paramref name="parameters"/> parameters at <see cref="Setting"/>, 4-bit formats.</summary>
    public double HeadSeconds(double parameters) => LmHead.At(parameters) + HeadWeightCandidates.At(parameters);

    /// <summary>
    /// The projected CPU time and peak memory of calibrating <paramref name="shape"/> at <paramref name="setting"/>:
    /// capture = tokens × <see cref="CapturePerToken"/>(parameters); each searched part = its laws at the measured setting
    /// (the weight candidates' law + the rest's × (tokens ratio)^<see cref="TokenExponent"/>) × (k ratio)^<see cref="CandidateExponent"/>
    /// × (R ratio)^<see cref="RoundExponent"/> (the embedding has no tokens, and no search where it stays in full precision) × the <see cref="Widths"/> factors of
    /// the setting's formats wider than 4 bits (a decoder layer's and lm_head's for their weights and activations, the
    /// embedding's for its table); peak = float32 weights + the inputs the calibration holds at once (an FPQ search
    /// captures block by block: tokens × <see cref="LlamaShape.StreamedFeatures"/> floats) + <see cref="Workspace"/>(parameters)
    /// + the change lists a search of several rounds keeps (<see cref="KeptChangeBytes"/>) + the largest weight phase's
    /// row errors and tiles (<see cref="WeightPhaseBytes"/>).
    /// </summary>
    /// <exception cref="ArgumentException">A setting with no tokens, candidates or rounds.</exception>
    public CostProjection Project(LlamaShape shape, CostSetting setting)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(setting);
        if (setting.Tokens < 1 || setting.Steps < 1 || setting.Rounds < 1)
            throw new ArgumentException($"cost projection: the FPQ search needs tokens, candidates and rounds, got {setting}.");
        double knobs = Math.Pow((double)setting.Steps / Setting.Steps, CandidateExponent) * Math.Pow((double)setting.Rounds / Setting.Rounds, RoundExponent);
        double tokens = Math.Pow((double)setting.Tokens / Setting.Tokens, TokenExponent);
        long head = (long)shape.HiddenSize * shape.VocabSize, layer = shape.LayerParameters;
        double layerWidth = WidthFactors.For(setting.WeightBits, Widths.LayerWeights, layer) * WidthFactors.For(setting.ActivationBits, Widths.LayerActivations, layer);
        double headWidth = WidthFactors.For(setting.WeightBits, Widths.HeadWeights, head) * WidthFactors.For(setting.ActivationBits, Widths.HeadActivations, head);
        double embedding = setting.EmbeddingBits == 0 ? 0 : knobs * WidthFactors.For(setting.EmbeddingBits, Widths.Embedding, head);
        long captured = 4L * setting.Tokens * shape.StreamedFeatures;
        return new CostProjection(
            setting.Tokens * CapturePerToken.At(shape.Parameters),
            shape.Layers * (DecoderLayer.At(layer) * tokens + LayerWeightCandidates.At(layer)) * knobs * layerWidth,
            (LmHead.At(head) * tokens + HeadWeightCandidates.At(head)) * knobs * headWidth,
            Embedding.At(head) * embedding,
            4L * shape.Parameters + captured + (long)Workspace.At(shape.Parameters) + KeptChangeBytes(shape, setting)
            + WeightPhaseBytes(shape, setting));
    }

    /// <summary>
    /// Bytes of the largest weight phase besides its Grams: the row errors of every format and candidate (the formats the
    /// presets search at the setting's weight width, <see cref="QuantSpec.DefaultSearchMantissaBits"/>: three at 4 bits,
    /// five at 8; k + 1 candidates; double per output row) and, where the weight formats go through <see cref="WeightCodeSweep"/>
    /// (<see cref="WeightCodeSweep.Pays"/> at k + 1 candidates: 4-bit grids at the paper's k, never 8-bit ones), its copies
    /// of the [in × in] Gram and cross Gram as float32 tiles and the Gram's upper triangle (2.5 in² floats). The head's
    /// phase (vocabulary rows, hidden inputs) or down_proj's (hidden rows, FFN inputs), whichever is larger. Weights in
    /// full precision count as 4-bit, as in the projection's time.
    /// </summary>
    public static long WeightPhaseBytes(LlamaShape shape, CostSetting setting)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(setting);
        var weights = QuantSpec.Fp(setting.WeightBits == 0 ? 4 : setting.WeightBits, Granularity.PerRow);
        long formats = Math.Max(1, weights.SearchMantissaBits.Length);
        bool swept = WeightCodeSweep.Pays(weights.StartFormat, setting.Steps + 1);
        long Phase(long rows, long inputs) => 8 * formats * (setting.Steps + 1L) * rows + (swept ? 10 * inputs * inputs : 0);
        return Math.Max(Phase(shape.VocabSize, shape.HiddenSize), Phase(shape.HiddenSize, shape.IntermediateSize));
    }

    /// <summary>
    /// Bytes of the change lists the activation sweep keeps between rounds for the largest input group (<see cref="KeptChanges"/>;
    /// none with one round): 6 per change, with the share of inputs that change per candidate step measured on the
    /// default model at the paper's setting (<c>fpq:4/4/4</c>, three formats: 2.8 % in the hidden-wide groups, 1.5 % in
    /// down_proj's), at most <see cref="KeptChanges.DefaultBudgetBytes"/>.
    /// </summary>
    public static long KeptChangeBytes(LlamaShape shape, CostSetting setting)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(setting);
        if (setting.Rounds < 2) return 0;
        double changingInputs = Math.Max(0.028 * shape.HiddenSize, 0.015 * shape.IntermediateSize);
        return (long)Math.Min(KeptChanges.DefaultBudgetBytes, 6 * 3.0 * setting.Steps * setting.Tokens * changingInputs);
    }
}

/// <summary>
/// The kit's calibration cost model (<see cref="Fitted"/>) and the shapes it is quoted for. The constants come from
/// <c>dotnet run -c Release --project benchmarks/LlmFp4.Kit.Benchmarks -- cost-curve</c>, which calibrates random-weight
/// LLaMA models of growing size and writes its data to <c>benchmarks/cost-curve/cost-curve.json</c>
/// (benchmarks/README.md: the run, its machine and load average); rerun it on another machine and replace them.
/// </summary>
public static class CalibrationCost
{
    /// <summary>
    /// The knobs the cost curve measures every size at: 8 × 512 tokens, the paper's k = 100, 1 round. At k = 100 the
    /// 4-bit weight candidates go through <see cref="WeightCodeSweep"/>, at fpq-fast's k = 20 through dense products, so a
    /// curve measured at small k projected the paper's setting 1.6× high; the candidates point runs k = 20.
    /// </summary>
    public static CostSetting Reference { get; } = new(8, 512, 100, 1);

    /// <summary>The paper's setting: 32 × 512 tokens, k = 100, 3 rounds (the kit's default config).</summary>
    public static CostSetting PaperSetting { get; } = new(32, 512, 100, 3);

    /// <summary>
    /// Fitted by <c>cost-curve</c> on the calibration code of commit e755832 (with the per-group timings that split the
    /// weight candidates off, which changed no arithmetic), on a 2-core AMD EPYC machine whose register-only FMA loop ran
    /// at 437 GFLOP/s (recorded in the data), load average 1.5–4.2, one point after the other, 19.7 min in all. CPU seconds
    /// are each stage's wall seconds × the run's CPU/wall, FPQ W4A4 (<c>fpq:4/4/4</c>) on the managed GEMM; the points,
    /// load averages and the fit are in benchmarks/cost-curve/cost-curve.json. The workspace is fitted net of the weights
    /// and one block's captured inputs. The knob exponents come from the same run at hidden 256 (2 layers, 10–20 s runs):
    /// tokens 8 → 16 × 512 (on the decoder layer less its weight candidates), candidates k = 20 → 100 (dense products →
    /// <see cref="WeightCodeSweep"/>), rounds 1 → 3; the width factors from <c>fpq:4/4/8</c> and <c>fpq:8/8/8</c> at hidden
    /// 256 (2 layers) and 1024 (1 layer). From hidden 256 to 2048 the weight candidates went from a tenth of a decoder
    /// layer's search to nearly half (P^1.28 against P^0.80 for the rest); beyond LLaMA-7B's layers (0.2·10^9 parameters) the fit
    /// is an extrapolation. At the file's last check (hidden 2048, the paper's setting, measured on the same machine right
    /// after this run) it projects 17.6 CPU min against 20.5 measured: 0.86×. The fit before the split, which scaled the
    /// weight candidates by the token exponent too, projected 1.6× the check of its own run.
    /// </summary>
    public static CostModel Fitted { get; } = new(Reference, Threads: 2,
        CapturePerToken: new(1.856E-06, 0.3883),
        DecoderLayer: new(7.526E-05, 0.7990),
        LayerWeightCandidates: new(1.511E-08, 1.2802),
        LmHead: new(8.582E-09, 1.2288),
        HeadWeightCandidates: new(1.664E-10, 1.5032),
        Embedding: new(1.083E-06, 0.9158),
        TokenExponent: 0.782, CandidateExponent: 0.164, RoundExponent: 0.488,
        Workspace: new(1.59E+05, 0.5135),
        Widths: new(new(0.987, 0.1165), new(0.4838, 0.0615), new(0.04945, 0.2050), new(0.01333, 0.3266), new(0.5868, 0.0529)));

    /// <summary>
    /// Null where <see cref="Fitted"/> was measured at <paramref name="setting"/>'s widths (4 or 8 bits; the embedding also
    /// in full precision), else how its projection extrapolates: the <see cref="CostModel.Widths"/> factors were measured
    /// at 8 bits and are used for every width above 4, so they run high for 5–7-bit grids (a candidate step moves fewer
    /// values than an 8-bit grid's) and are untested above 8 bits; widths below 4 bits are projected as 4-bit, high where
    /// their grids hold fewer values; weights or activations in full precision are projected as 4-bit, high where the search
    /// then skips that part.
    /// </summary>
    public static string? WidthCaveat(CostSetting setting)
    {
        ArgumentNullException.ThrowIfNull(setting);
        var notes = new List<string>();
        if (setting.Bits.Any(b => b is (> 4 and < 8) or > 8))
            notes.Add("the 8-bit factors stand for every width above 4 bits, high for 5–7-bit grids (whose candidate steps move fewer values) and untested above 8");
        if (setting.Bits.Any(b => b is > 0 and < 4))
            notes.Add("widths below 4 bits are projected as 4-bit, high where their grids hold fewer values");
        if (setting.WeightBits == 0 || setting.ActivationBits == 0)
            notes.Add("weights or activations in full precision are projected as 4-bit, high where the search skips them");
        if (notes.Count == 0) return null;
        return $"The cost model was measured at 4- and 8-bit formats; for E/W/A {setting.Widths} {string.Join("; ", notes)}.";
    }

    /// <summary>
    /// TinyLlama-1.1B's proportions at hidden size <paramref name="hidden"/>: 22 layers, SwiGLU width 2.75 × hidden
    /// (5632 at 2048), 32 query and 4 key/value heads (head dimension hidden / 32), vocabulary 32,000. Hidden 2048 is
    /// TinyLlama-1.1B itself.
    /// </summary>
    public static LlamaShape TinyLlamaShape(int hidden) => new(hidden, hidden * 11 / 4, 22, 32, 4, 32000);

    /// <summary>LLaMA-7B: hidden 4096, SwiGLU 11008, 32 layers, 32 heads (no grouped keys/values), vocabulary 32,000.</summary>
    public static LlamaShape Llama7BShape { get; } = new(4096, 11008, 32, 32, 32, 32000);
}
