using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Evaluation;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Bert;
using LlmFp4.Kit.Models.Loading;
using LlmFp4.Kit.Models.Tokenizers;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Experiments;

/// <summary>A model ready to calibrate and evaluate, with the name its results are filed under.</summary>
public sealed record LoadedModel(string Name, LlamaModel Model, ITokenizer Tokenizer);

/// <summary>A sentence encoder ready to calibrate and evaluate, with the name its results are filed under.</summary>
public sealed record LoadedEncoder(string Name, SentenceEncoder Encoder);

/// <summary>
/// Where a <see cref="Reproduction"/> run is: row <see cref="RowIndex"/> of <see cref="RowCount"/>, its
/// <see cref="Stage"/> ("calibrate", "evaluate", "reused", "done"), the step within it (<see cref="Done"/> of
/// <see cref="Total"/>), and <see cref="RowFraction"/>, the share of the row finished (calibration counts as the first half).
/// </summary>
public readonly record struct ReproductionProgress(int RowIndex, int RowCount, string Row, string Stage, string Step, int Done, int Total, double RowFraction)
{
    /// <summary>Rows finished, fractional: RowIndex + RowFraction.</summary>
    public double Overall => RowIndex + RowFraction;
}

/// <summary>One finished row: its results and how it was obtained.</summary>
/// <param name="Name">The row as configured (<c>fpq:4/4/4</c>, <c>full-precision</c>).</param>
/// <param name="Label">The row as the table shows it (<c>FPQ 4/4/4</c>).</param>
/// <param name="Config">Its quantization config (null: full precision).</param>
/// <param name="Results">Every metric of every task.</param>
/// <param name="Reused">Read back from an earlier run's row file instead of evaluated.</param>
/// <param name="CalibrationReused">The calibration was loaded from the cache (false when it ran, or for full precision).</param>
/// <param name="CalibrationSeconds">Time spent calibrating or loading the calibration in this run.</param>
/// <param name="EvaluationSeconds">Time spent evaluating in this run.</param>
public sealed record ReproductionRow(string Name, string Label, QuantConfig? Config, IReadOnlyList<EvalResult> Results, bool Reused,
    bool CalibrationReused, double CalibrationSeconds, double EvaluationSeconds);

/// <summary>The rows of a run in table order.</summary>
public sealed record ReproductionResult(ReproductionConfig Config, string ModelName, IReadOnlyList<ReproductionRow> Rows)
{
    /// <summary>Every evaluation result of every row, in row order.</summary>
    public IEnumerable<EvalResult> Results => Rows.SelectMany(r => r.Results);
}

/// <summary>
/// The kit's end-to-end experiment, the LLM-FP4 Table 1 on one model: for every row, calibrate (or load the saved
/// calibration, keyed by model and config hash), quantize a copy of the model, evaluate it, and file the row under
/// <c>{output}/rows/</c>. A LLaMA model is scored on the stand-in tasks and perplexity; a sentence encoder on the verse
/// retrieval task and its fidelity to the full-precision embeddings (<see cref="VerseRetrieval.Score"/>). A finished row
/// is read back instead of evaluated again unless <see cref="ReproductionConfig.Force"/>. Every file is written whole
/// (temp file, then rename), and a row only once it is complete, so a cancelled run leaves the finished rows and nothing
/// half-written.
/// </summary>
/// <remarks>
/// Cancellation is observed between rows and at every progress step of calibration and evaluation (each search
/// candidate, each batch), so the run stops soon after the cancellation token fires, throwing
/// <see cref="OperationCanceledException"/>.
/// </remarks>
public static class Reproduction
{
    /// <summary>Sub-folder of the output folder that holds one finished row per file.</summary>
    public const string RowsFolder = "rows";

    /// <summary>Loads <see cref="ReproductionConfig.ModelPath"/> (a LLaMA checkpoint or a sentence encoder, <see cref="IsEncoder"/>) and runs every row.</summary>
    public static ReproductionResult Run(ReproductionConfig config, IProgress<ReproductionProgress>? progress = null,
        CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        return IsEncoder(config.ModelPath)
            ? Run(config, LoadEncoder(config.ModelPath), progress, cancellation)
            : Run(config, LoadModel(config.ModelPath, config.DataDirectory), progress, cancellation);
    }

    /// <summary>Runs every row on <paramref name="model"/>, which stays unquantized (each row quantizes a copy).</summary>
    public static ReproductionResult Run(ReproductionConfig config, LoadedModel model, IProgress<ReproductionProgress>? progress = null,
        CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(model);
        config.Validate();
        IReadOnlyList<IEvalTask> tasks = config.FidelityTokens is int fidelityTokens
            ? [.. Tasks(config), NextTokenFidelityTask.FromText(model.Model, model.Tokenizer, TaskRegistry.HeldOutText(config.DataDirectory), fidelityTokens)]
            : Tasks(config);
        CalibrationSet? calibrationSet = null;
        CalibrationSet CalibrationData(QuantConfig quant) => calibrationSet ??= CalibrationSet.FromTextFile(
            Path.Combine(config.DataDirectory ?? TaskRegistry.FindDataDirectory("corpus"), "corpus", "train.txt"), model.Tokenizer, quant.Calibration);
        return RunRows(config, model.Name, model.Model, () => model.Model.Clone(), CalibrationData, tasks.Select(t => $"{t.Name}:{t.Count}"),
            (copy, info, evalProgress) => EvalRunner.Run(new LoglikelihoodScorer((LlamaModel)copy, model.Tokenizer), tasks, info, evalProgress),
            progress, cancellation);
    }

    /// <summary>
    /// Runs every row on a sentence encoder: calibration sentences from the verse task's calibration texts (never the
    /// evaluated pairs), each row scored on the pairs (the first <see cref="ReproductionConfig.Limit"/>) and against the
    /// full-precision embeddings of the same texts, which are computed once, when a row first needs them.
    /// </summary>
    public static ReproductionResult Run(ReproductionConfig config, LoadedEncoder encoder, IProgress<ReproductionProgress>? progress = null,
        CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(encoder);
        config.Validate();
        string pairsPath = config.EncoderPairsPath();
        var pairs = VerseRetrieval.Read(pairsPath).Items;
        if (config.Limit is int limit) pairs = [.. pairs.Take(limit)];
        var sentence = encoder.Encoder;
        CalibrationSet? calibrationSet = null;
        CalibrationSet CalibrationData(QuantConfig quant) => calibrationSet ??= EncoderCalibrationSet(sentence, quant.Calibration, pairsPath);
        VerseEmbeddings? reference = null;
        VerseEmbeddings Embed(BertModel model, IProgress<TaskProgress> evalProgress, string step)
        {
            var copy = new SentenceEncoder(model, sentence.Tokenizer, sentence.Pooling);
            int offset = 0;
            float[][] Encode(IReadOnlyList<string> texts)
            {
                var embedded = copy.Encode(texts, new SynchronousProgress<int>(done =>
                    evalProgress.Report(new(step, 0, 1, new EvalProgress(offset + done, 2 * pairs.Count)))));
                offset += texts.Count;
                return embedded;
            }
            return VerseRetrieval.Embed(Encode, pairs);
        }
        return RunRows(config, encoder.Name, sentence.Model, sentence.Model.Clone, CalibrationData, [$"{VerseRetrieval.TaskName}:{pairs.Count}", $"{Fidelity.TaskName}:{2 * pairs.Count}"],
            (copy, info, evalProgress) =>
            {
                var clock = Stopwatch.StartNew();
                reference ??= Embed(sentence.Model, evalProgress, "full-precision embeddings");
                var embeddings = ReferenceEquals(copy, sentence.Model) ? reference : Embed((BertModel)copy, evalProgress, VerseRetrieval.TaskName);
                return VerseRetrieval.Score(embeddings, reference, info, clock.Elapsed.TotalSeconds);
            },
            progress, cancellation);
    }

    /// <summary>
    /// The row loop: per row, the finished row file if there is one, else calibrate (or load the cached calibration) on
    /// <paramref name="model"/>, apply it to a <paramref name="copy"/> (the model itself for full precision), evaluate, and
    /// file the row. <paramref name="taskKeys"/> name what the evaluation scores, for the row file's key.
    /// </summary>
    private static ReproductionResult RunRows(ReproductionConfig config, string modelName, IQuantizableModel model, Func<IQuantizableModel> copy,
        Func<QuantConfig, CalibrationSet> calibrationData, IEnumerable<string> taskKeys,
        Func<IQuantizableModel, EvalRunInfo, IProgress<TaskProgress>, IReadOnlyList<EvalResult>> evaluate,
        IProgress<ReproductionProgress>? progress, CancellationToken cancellation)
    {
        string weightsHash = ModelIdentity.Of(model).WeightsSha256;
        string tasksKey = string.Join(',', taskKeys);
        var rows = new List<ReproductionRow>();
        for (int index = 0; index < config.Rows.Count; index++)
        {
            cancellation.ThrowIfCancellationRequested();
            string name = config.Rows[index].Trim();
            var quant = config.QuantConfigFor(name);
            void Report(string stage, string step, int done, int total, double fraction) =>
                progress?.Report(new(index, config.Rows.Count, name, stage, step, done, total, fraction));

            string rowFile = RowFile(config, name, weightsHash, quant, tasksKey);
            if (!config.Force && File.Exists(rowFile))
            {
                rows.Add(new ReproductionRow(name, Label(name, quant), quant, EvalResultFiles.ReadJsonLines(rowFile), true, false, 0, 0));
                Report("reused", rowFile, 1, 1, 1);
                continue;
            }

            var evaluated = model;
            var clock = Stopwatch.StartNew();
            bool calibrationReused = false;
            string? quantLabel = null;
            if (quant is not null)
            {
                Report("calibrate", "capture", 0, 1, 0);
                double layersShare = 0;
                var calibrationProgress = new SynchronousProgress<CalibrationProgress>(p =>
                {
                    cancellation.ThrowIfCancellationRequested();
                    bool layers = p.Stage == CalibrationStage.Layers;
                    if (layers && p.Total > 0) layersShare = 0.5 * p.Done / p.Total;
                    Report("calibrate", layers ? p.Item : $"{p.Stage.ToString().ToLowerInvariant()}: {p.Item}", p.Done, p.Total, layersShare);
                });
                var (result, reused) = CalibrationCache.GetOrCalibrate(quant, model, config.CalibrationDirectory, calibrationData,
                    config.Force, calibrationProgress, config.ModelPath);
                evaluated = copy();
                result.Apply(evaluated);
                calibrationReused = reused;
                quantLabel = $"{quant.Name ?? name}@{quant.Hash}";
            }
            double calibrationSeconds = clock.Elapsed.TotalSeconds;

            clock.Restart();
            double start = quant is null ? 0 : 0.5, share = 1 - start;
            var evalProgress = new SynchronousProgress<TaskProgress>(p =>
            {
                cancellation.ThrowIfCancellationRequested();
                double taskShare = p.Step.Total > 0 ? (double)p.Step.Done / p.Step.Total : 0;
                Report("evaluate", p.Task, p.Step.Done, p.Step.Total, start + share * (p.TaskIndex + taskShare) / p.TaskCount);
            });
            var info = new EvalRunInfo(modelName, quantLabel, quant?.Calibration.Seed ?? 0, config.Limit);
            var results = evaluate(evaluated, info, evalProgress);
            cancellation.ThrowIfCancellationRequested();
            EvalResultFiles.WriteJsonLines(rowFile, results);
            rows.Add(new ReproductionRow(name, Label(name, quant), quant, results, false, calibrationReused, calibrationSeconds, clock.Elapsed.TotalSeconds));
            Report("done", rowFile, 1, 1, 1);
        }
        return new ReproductionResult(config, modelName, rows);
    }

    /// <summary>
    /// Calibration sequences for a sentence encoder: <see cref="CalibrationDataSettings.Samples"/> sentences drawn by seed
    /// from <paramref name="sentencesPath"/> (one per line; null: the verse task's calibration verses, which are never among
    /// its pairs), each framed with [CLS]/[SEP] and cut to at most <see cref="CalibrationDataSettings.SequenceLength"/>
    /// tokens (and the encoder's maximum length). A path ending in <c>.jsonl</c> names a pairs file: its calibration texts are used.
    /// </summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    public static CalibrationSet EncoderCalibrationSet(SentenceEncoder encoder, CalibrationDataSettings settings, string? sentencesPath = null)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        sentencesPath ??= VerseRetrieval.DefaultPairsPath();
        IReadOnlyList<string> sentences;
        if (sentencesPath.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase))
            sentences = VerseRetrieval.CalibrationTexts(sentencesPath);
        else if (File.Exists(sentencesPath))
            sentences = [.. File.ReadAllLines(sentencesPath).Where(line => line.Trim().Length > 0)];
        else
            throw new FileNotFoundException($"{sentencesPath}: no such calibration text file.", sentencesPath);
        return CalibrationSet.FromSentences(sentences, (text, length) => encoder.Tokenizer.EncodeForModel(text, Math.Min(length, encoder.MaxLength)),
            settings, sentencesPath);
    }

    /// <summary>
    /// True when <paramref name="modelPath"/> names a sentence encoder: a pretrained encoder's key (<c>minilm</c>, see
    /// <see cref="PretrainedEncoders"/>) or a folder whose <c>config.json</c> is a BERT config.
    /// </summary>
    public static bool IsEncoder(string modelPath) =>
        PretrainedEncoders.All.Any(e => string.Equals(e.Key, modelPath, StringComparison.OrdinalIgnoreCase)) || BertCheckpoint.IsBertFolder(modelPath);

    /// <summary>
    /// Loads a sentence encoder: a pretrained encoder's key (imported into its data folder on first use, <paramref name="log"/>
    /// gets a line per step) or a Hugging Face / sentence-transformers folder; results are filed under the folder name.
    /// </summary>
    public static LoadedEncoder LoadEncoder(string modelPath, Action<string>? log = null)
    {
        string folder = PretrainedEncoders.Resolve(modelPath, log);
        return new LoadedEncoder(Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder))), SentenceEncoder.Load(folder));
    }

    /// <summary>
    /// Loads a checkpoint into the float32 LLaMA runtime (see <see cref="CheckpointLoader.LoadModel"/>) with its tokenizer:
    /// <paramref name="tokenizerPath"/> if given, else the <c>tokenizer.json</c> beside the checkpoint, else the kit's
    /// (<c>data/tokenizer/tokenizer.json</c>); results are filed under the folder or file name.
    /// </summary>
    public static LoadedModel LoadModel(string path, string? dataDirectory = null, string? tokenizerPath = null, bool keepStoredWeights = false)
    {
        var model = CheckpointLoader.LoadModel(path, keepStoredWeights);
        string folder = Directory.Exists(path) ? path : Path.GetDirectoryName(Path.GetFullPath(path))!;
        tokenizerPath ??= File.Exists(Path.Combine(folder, "tokenizer.json"))
            ? Path.Combine(folder, "tokenizer.json")
            : Path.Combine(dataDirectory ?? TaskRegistry.FindDataDirectory("tokenizer"), "tokenizer", "tokenizer.json");
        return new LoadedModel(Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(path))), model, BpeTokenizer.Load(tokenizerPath));
    }

    /// <summary>The table label of a row: "full precision" or the method's paper name and its E/W/A bits, e.g. "FPQ baseline 4/4/4".</summary>
    public static string Label(string row, QuantConfig? config)
    {
        return config is null ? "full precision" : QuantPresets.Label(config.Name ?? row);
    }

    /// <summary>The run's tasks, perplexity cut to <see cref="ReproductionConfig.PerplexityTokens"/>.</summary>
    private static IReadOnlyList<IEvalTask> Tasks(ReproductionConfig config) =>
        [.. TaskRegistry.Parse(config.Tasks, config.DataDirectory).Select(task => task is PerplexityTask perplexity ? perplexity.WithMaxTokens(config.PerplexityTokens) : task)];

    /// <summary>
    /// <c>{output}/rows/{row}-{key}.jsonl</c>, the key hashing everything the row's numbers depend on: model weights,
    /// quantization config (calibration data included), tasks with their example counts, limits, the kit's version and the
    /// GEMM backend's summation order.
    /// </summary>
    private static string RowFile(ReproductionConfig config, string row, string weightsHash, QuantConfig? quant, string tasksKey)
    {
        var key = new StringBuilder()
            .Append(weightsHash).Append('|').Append(quant?.Hash ?? "full-precision").Append('|')
            .Append(tasksKey).Append('|')
            .Append(config.Limit?.ToString() ?? "all").Append('|').Append(config.PerplexityTokens?.ToString() ?? "all").Append('|')
            .Append(KitInfo.Version).Append('|').Append(Gemm.Backend.Version);
        string hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key.ToString())))[..12];
        string slug = new([.. row.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' ? c : '_')]);
        return Path.Combine(config.OutputDirectory, RowsFolder, $"{slug}-{hash}.jsonl");
    }
}
