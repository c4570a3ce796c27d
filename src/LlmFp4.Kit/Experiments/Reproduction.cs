using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Evaluation;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Loading;
using LlmFp4.Kit.Models.Tokenizers;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Experiments;

/// <summary>A model ready to calibrate and evaluate, with the name its results are filed under.</summary>
public sealed record LoadedModel(string Name, LlamaModel Model, ITokenizer Tokenizer);

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
/// calibration, keyed by model and config hash), quantize a copy of the model, evaluate it on the tasks, and file
/// the row under <c>{output}/rows/</c>. A finished row is read back instead of evaluated again unless
/// <see cref="ReproductionConfig.Force"/>. Every file is written whole (temp file, then rename), and a row only once it
/// is complete, so a cancelled run leaves the finished rows and nothing half-written.
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

    /// <summary>Loads <see cref="ReproductionConfig.ModelPath"/> and runs every row (see the class summary).</summary>
    public static ReproductionResult Run(ReproductionConfig config, IProgress<ReproductionProgress>? progress = null,
        CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        return Run(config, LoadModel(config.ModelPath, config.DataDirectory), progress, cancellation);
    }

    /// <summary>Runs every row on <paramref name="model"/>, which stays unquantized (each row quantizes a copy).</summary>
    public static ReproductionResult Run(ReproductionConfig config, LoadedModel model, IProgress<ReproductionProgress>? progress = null,
        CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(model);
        config.Validate();
        var tasks = Tasks(config);
        string weightsHash = ModelIdentity.Of(model.Model).WeightsSha256;
        CalibrationSet? calibrationSet = null;
        CalibrationSet CalibrationData(QuantConfig quant) => calibrationSet ??= CalibrationSet.FromTextFile(
            Path.Combine(config.DataDirectory ?? TaskRegistry.FindDataDirectory("corpus"), "corpus", "train.txt"), model.Tokenizer, quant.Calibration);

        var rows = new List<ReproductionRow>();
        for (int index = 0; index < config.Rows.Count; index++)
        {
            cancellation.ThrowIfCancellationRequested();
            string name = config.Rows[index].Trim();
            var quant = config.QuantConfigFor(name);
            void Report(string stage, string step, int done, int total, double fraction) =>
                progress?.Report(new(index, config.Rows.Count, name, stage, step, done, total, fraction));

            string rowFile = RowFile(config, name, weightsHash, quant, tasks);
            if (!config.Force && File.Exists(rowFile))
            {
                rows.Add(new ReproductionRow(name, Label(name, quant), quant, EvalResultFiles.ReadJsonLines(rowFile), true, false, 0, 0));
                Report("reused", rowFile, 1, 1, 1);
                continue;
            }

            var copy = model.Model.Clone();
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
                var (result, reused) = CalibrationCache.GetOrCalibrate(quant, model.Model, config.CalibrationDirectory, CalibrationData,
                    config.Force, calibrationProgress, config.ModelPath);
                result.Apply(copy);
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
            var scorer = new LoglikelihoodScorer(copy, model.Tokenizer);
            var info = new EvalRunInfo(model.Name, quantLabel, quant?.Calibration.Seed ?? 0, config.Limit);
            var results = EvalRunner.Run(scorer, tasks, info, evalProgress);
            cancellation.ThrowIfCancellationRequested();
            EvalResultFiles.WriteJsonLines(rowFile, results);
            rows.Add(new ReproductionRow(name, Label(name, quant), quant, results, false, calibrationReused, calibrationSeconds, clock.Elapsed.TotalSeconds));
            Report("done", rowFile, 1, 1, 1);
        }
        return new ReproductionResult(config, model.Name, rows);
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
        [.. TaskRegistry.Parse(config.Tasks, config.DataDirectory).Select(task => task is PerplexityTask perplexity && config.PerplexityTokens is int tokens
            ? new PerplexityTask(perplexity.Name, perplexity.Path, perplexity.Options with { MaxTokens = tokens })
            : task)];

    /// <summary>
    /// <c>{output}/rows/{row}-{key}.jsonl</c>, the key hashing everything the row's numbers depend on: model weights,
    /// quantization config (calibration data included), tasks with their files and example counts, limits, the kit's
    /// version and the GEMM backend's summation order.
    /// </summary>
    private static string RowFile(ReproductionConfig config, string row, string weightsHash, QuantConfig? quant, IReadOnlyList<IEvalTask> tasks)
    {
        var key = new StringBuilder()
            .Append(weightsHash).Append('|').Append(quant?.Hash ?? "full-precision").Append('|')
            .AppendJoin(',', tasks.Select(t => $"{t.Name}:{t.Count}")).Append('|')
            .Append(config.Limit?.ToString() ?? "all").Append('|').Append(config.PerplexityTokens?.ToString() ?? "all").Append('|')
            .Append(KitInfo.Version).Append('|').Append(Gemm.Backend.Version);
        string hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key.ToString())))[..12];
        string slug = new([.. row.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' ? c : '_')]);
        return Path.Combine(config.OutputDirectory, RowsFolder, $"{slug}-{hash}.jsonl");
    }
}
