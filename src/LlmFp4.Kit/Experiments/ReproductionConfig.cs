using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using LlmFp4.Kit.Evaluation;
using LlmFp4.Kit.Quantization;

namespace LlmFp4.Kit.Experiments;

/// <summary>
/// Everything a <see cref="Reproduction"/> run depends on: which model, which rows of the paper's Table 1 (preset
/// names, see <see cref="QuantPresets"/>, or <see cref="FullPrecision"/>), which tasks, how much calibration data and
/// how many evaluation examples. Serialises to snake_case JSON; <see cref="FullRun"/> and <see cref="QuickRun"/> are the
/// settings <c>llmfp4 reproduce</c> uses.
/// </summary>
public sealed record ReproductionConfig
{
    /// <summary>The row name of the unquantized model.</summary>
    public const string FullPrecision = "full-precision";

    /// <summary>Model folder or checkpoint.</summary>
    public string ModelPath { get; init; } = Path.Combine("data", "models", "pdllama-7m");

    /// <summary>Rows in table order: <see cref="FullPrecision"/> or a preset such as <c>fpq:4/4/4</c>.</summary>
    public IReadOnlyList<string> Rows { get; init; } = PaperRows;

    /// <summary>A task list for <see cref="Evaluation.TaskRegistry.Parse"/>; for a sentence encoder <c>verse-retrieval[:PAIRS.jsonl]</c> (<see cref="EncoderPairsPath"/>).</summary>
    public string Tasks { get; init; } = "continuation,lastword,perplexity";

    /// <summary>Calibration windows (sentences of at most L tokens for an encoder) for every quantized row (replaces each preset's own calibration settings).</summary>
    public CalibrationDataSettings Calibration { get; init; } = new() { Samples = 16, SequenceLength = 128 };

    /// <summary>The search grid for every searching row (FPQ's candidates and rounds); null keeps each preset's own (the paper's).</summary>
    public SearchSettings? Search { get; init; }

    /// <summary>Examples scored per multiple-choice / last-word task, or verse pairs for an encoder; null = all.</summary>
    public int? Limit { get; init; } = 250;

    /// <summary>Tokens of the held-out text scored for perplexity; null = the whole text.</summary>
    public int? PerplexityTokens { get; init; } = 65_536;

    /// <summary>
    /// Tokens of the held-out split on which a quantized decoder's next-token distributions are compared with full
    /// precision (task <c>fidelity</c>: KL divergence and top-1 agreement); null = not measured. Encoders always report their
    /// mean cosine instead.
    /// </summary>
    public int? FidelityTokens { get; init; } = NextTokenFidelityTask.DefaultTokens;

    /// <summary>Marks a shortened run in the output (the settings above say how much shorter).</summary>
    public bool Quick { get; init; }

    /// <summary>Where results.jsonl/csv/md, the finished rows (rows/) and figures/ go.</summary>
    public string OutputDirectory { get; init; } = Path.Combine("results", "reproduce");

    /// <summary>Saved calibrations, shared with <c>llmfp4 calibrate</c> and <c>eval --quant</c>.</summary>
    public string CalibrationDirectory { get; init; } = Path.Combine("results", "calibration");

    /// <summary>The kit's data folder (corpus, tokenizer, tasks); null = found by walking up from the current directory.</summary>
    public string? DataDirectory { get; init; }

    /// <summary>Recalibrate and re-evaluate every row instead of reusing saved calibrations and finished rows.</summary>
    public bool Force { get; init; }

    /// <summary>
    /// The paper's Table 1 rows (LLaMA, E/W/A bits): full precision; at 8/8/8 MinMax INT, MinMax FP, SmoothQuant (16/8/8),
    /// FPQ baseline and FPQ; GPTQ at W4A16; FPQ baseline and FPQ at 4/4/8; at 4/4/4 MinMax INT, MinMax FP, SmoothQuant
    /// (16/4/4), FPQ baseline and FPQ.
    /// </summary>
    public static IReadOnlyList<string> PaperRows { get; } =
    [
        FullPrecision,
        "minmax-int:8/8/8", "minmax-fp:8/8/8", "smoothquant:16/8/8", "fpq-baseline:8/8/8", "fpq:8/8/8",
        "gptq:4/4/16",
        "fpq-baseline:4/4/8", "fpq:4/4/8",
        "minmax-int:4/4/4", "minmax-fp:4/4/4", "smoothquant:16/4/4", "fpq-baseline:4/4/4", "fpq:4/4/4",
    ];

    /// <summary>
    /// What <c>llmfp4 reproduce</c> runs (the defaults): every row of <see cref="PaperRows"/>, 16 × 128 calibration tokens,
    /// the first 250 examples of each stand-in task, the first 65,536 tokens of the held-out split for perplexity and its first
    /// 8,192 for the fidelity to full precision. Sized to
    /// finish within 30 minutes on 2 cores: the searches' cost grows with the calibration tokens, the evaluations' with the
    /// examples (the paper calibrates on 32 × 2048 tokens and scores whole benchmarks).
    /// </summary>
    public static ReproductionConfig FullRun { get; } = new();

    /// <summary>
    /// What <c>llmfp4 reproduce --quick</c> runs: the W4A4 story only (full precision, MinMax INT and FP, FPQ baseline, FPQ
    /// at 4/4/4) on 8 × 64 calibration tokens, 60 examples per task, 8,192 perplexity and 2,048 fidelity tokens, into results/reproduce-quick.
    /// </summary>
    public static ReproductionConfig QuickRun { get; } = new()
    {
        Rows = [FullPrecision, "minmax-int:4/4/4", "minmax-fp:4/4/4", "fpq-baseline:4/4/4", "fpq:4/4/4"],
        Calibration = new CalibrationDataSettings { Samples = 8, SequenceLength = 64 },
        Limit = 60,
        PerplexityTokens = 8_192,
        FidelityTokens = 2_048,
        Quick = true,
        OutputDirectory = Path.Combine("results", "reproduce-quick"),
    };

    /// <summary>
    /// The rows on a sentence encoder: <see cref="PaperRows"/>, then the related methods' presets RPTQ W4A4, FPTQ W4A8, FP6
    /// W6A16 and INT4 W4A16 (docs/methods.md §7–9).
    /// </summary>
    public static IReadOnlyList<string> EncoderRows { get; } = [.. PaperRows, "rptq-w4a4", "fptq-w4a8", "fp6-w6a16", "int4-w4a16"];

    /// <summary>
    /// What <c>llmfp4 reproduce --model minilm</c> runs: <see cref="EncoderRows"/> on all-MiniLM-L6-v2, calibrated on 32
    /// of the verse task's 1,024 calibration sentences (one sentence per sequence, at most 128 tokens), scored on all
    /// 2,000 verse pairs (<see cref="Tasks"/> <c>verse-retrieval</c>: recall@1, recall@10, MRR, and the mean cosine to the
    /// full-precision embeddings of the same 4,000 texts), into results/reproduce-minilm.
    /// </summary>
    public static ReproductionConfig EncoderRun { get; } = new()
    {
        ModelPath = "minilm",
        Rows = EncoderRows,
        Tasks = "verse-retrieval",
        Calibration = new CalibrationDataSettings { Samples = 32, SequenceLength = 128 },
        Limit = null,
        PerplexityTokens = null,
        FidelityTokens = null,
        OutputDirectory = Path.Combine("results", "reproduce-minilm"),
    };

    /// <summary>What <c>llmfp4 reproduce --model minilm --quick</c> runs: the W4A4 rows of <see cref="QuickRun"/> on 16 calibration sentences and the first 300 pairs.</summary>
    public static ReproductionConfig EncoderQuickRun { get; } = EncoderRun with
    {
        Rows = QuickRun.Rows,
        Calibration = new CalibrationDataSettings { Samples = 16, SequenceLength = 128 },
        Limit = 300,
        Quick = true,
        OutputDirectory = Path.Combine("results", "reproduce-minilm-quick"),
    };

    /// <summary>
    /// The verse pairs an encoder run scores: <see cref="Tasks"/> is <c>verse-retrieval</c> (the kit's file under the data
    /// folder) or <c>verse-retrieval:PAIRS.jsonl</c>; the calibration texts are read beside the pairs.
    /// </summary>
    /// <exception cref="ArgumentException">Tasks names anything else.</exception>
    public string EncoderPairsPath()
    {
        string tasks = Tasks.Trim();
        if (tasks == VerseRetrieval.TaskName) return VerseRetrieval.DefaultPairsPath(DataDirectory);
        if (tasks.StartsWith(VerseRetrieval.TaskName + ":", StringComparison.Ordinal)) return tasks[(VerseRetrieval.TaskName.Length + 1)..];
        throw new ArgumentException($"reproduce: a sentence encoder is scored on {VerseRetrieval.TaskName}[:PAIRS.jsonl], not tasks '{Tasks}'.");
    }

    /// <summary>The row's quantization config with this run's calibration data; null for <see cref="FullPrecision"/>.</summary>
    /// <exception cref="ArgumentException">Not a preset name or config file (the message lists the presets).</exception>
    public QuantConfig? QuantConfigFor(string row)
    {
        if (IsFullPrecision(row)) return null;
        var config = QuantConfig.Resolve(row) with { Calibration = Calibration };
        if (Search is { } search) config = config.WithSearch(search);
        config.Validate();
        return config;
    }

    /// <summary>Whether <paramref name="row"/> names the unquantized model: "full-precision", "fp", "fp32" or "16/16/16" (case-insensitive, trimmed).</summary>
    public static bool IsFullPrecision(string row) =>
        string.Equals(row.Trim(), FullPrecision, StringComparison.OrdinalIgnoreCase) || row.Trim() is "fp" or "fp32" or "16/16/16";

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting (an unknown row included).</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(ModelPath)) throw new ArgumentException("reproduce: no model path given.");
        if (Rows.Count == 0) throw new ArgumentException("reproduce: no rows given.");
        if (Limit is < 1) throw new ArgumentException($"reproduce: limit must be at least 1, got {Limit}.");
        if (PerplexityTokens is < 2) throw new ArgumentException($"reproduce: perplexity_tokens must be at least 2, got {PerplexityTokens}.");
        if (FidelityTokens is < 2) throw new ArgumentException($"reproduce: fidelity_tokens must be at least 2, got {FidelityTokens}.");
        var duplicate = Rows.GroupBy(r => r.Trim().ToLowerInvariant()).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ArgumentException($"reproduce: row '{duplicate.Key}' is listed twice.");
        foreach (string row in Rows) QuantConfigFor(row);
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        RespectNullableAnnotations = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>This config as indented snake_case JSON, the form <see cref="FromJson"/> reads.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Parses and validates a config; <paramref name="source"/> names the file in errors.</summary>
    public static ReproductionConfig FromJson(string json, string source = "reproduction config")
    {
        ReproductionConfig? config;
        try
        {
            config = JsonSerializer.Deserialize<ReproductionConfig>(json, JsonOptions);
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException)
        {
            throw new InvalidDataException($"{source}: not a valid reproduction config ({ex.Message})", ex);
        }
        if (config is null) throw new InvalidDataException($"{source}: empty reproduction config.");
        try { config.Validate(); }
        catch (Exception ex) when (ex is ArgumentException or InvalidDataException or FileNotFoundException)
        {
            throw new InvalidDataException($"{source}: {ex.Message}", ex);
        }
        return config;
    }
}
