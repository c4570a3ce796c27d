using System.CommandLine;
using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Evaluation;
using LlmFp4.Kit.Experiments;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Tokenizers;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Reports;
using Spectre.Console;

namespace LlmFp4.Kit.Cli.Commands;

/// <summary>A model ready to evaluate, with the name results are filed under.</summary>
public sealed record EvalModel(string Name, ICausalLanguageModel Model, ITokenizer Tokenizer);

/// <summary>`llmfp4 eval`: zero-shot tasks and perplexity with lm-eval semantics, results as JSON lines, CSV and a table.</summary>
public static class EvalCommand
{
    /// <summary>
    /// The verb, loading models with <paramref name="loadModel"/> (tests pass a fake); by default
    /// <see cref="LoadModel"/>.
    /// </summary>
    public static Command Create(Func<string, EvalModel>? loadModel = null)
    {
        loadModel ??= LoadModel;
        var model = new Option<string>("--model") { Description = "Model folder or checkpoint.", Required = true };
        var tasks = new Option<string>("--tasks")
        {
            Description = $"Comma-separated tasks: {string.Join(", ", TaskRegistry.Known)}; benchmarks as name:PATH (e.g. piqa:valid.jsonl).",
            DefaultValueFactory = _ => "continuation,lastword",
        };
        var limit = new Option<int?>("--limit") { Description = "Score only the first N examples of each task." };
        var perplexityTokens = new Option<int?>("--perplexity-tokens")
        {
            Description = "Score only the first N tokens of each perplexity text (reproduce uses 65536; default: the whole text).",
        };
        var quant = new Option<string?>("--quant")
        {
            Description = "Quantize before evaluating: a `llmfp4 calibrate` result folder, or a preset / JSON config (calibrated on first use, cached under results/calibration).",
        };
        var output = new Option<string>("--out") { Description = "Results as JSON lines; a CSV is written beside it (default: results/eval/results.jsonl).", DefaultValueFactory = _ => Path.Combine("results", "eval", "results.jsonl") };
        var batch = new Option<int>("--batch-size") { Description = "Sequences per model call.", DefaultValueFactory = _ => 16 };
        var dataDir = new Option<string?>("--data-dir") { Description = "The kit's data folder (default: found by walking up from here)." };
        var fidelityTokens = new Option<int>("--fidelity-tokens")
        {
            Description = "With --quant: also compare the next-token distributions with the unquantized model's on the first N tokens of the held-out split (task fidelity: KL divergence, top-1 agreement); 0 = off.",
            DefaultValueFactory = _ => NextTokenFidelityTask.DefaultTokens,
        };
        var seed = new Option<int>("--seed") { Description = "Seed recorded with the results (of the quantization run that made the model).", DefaultValueFactory = _ => 0 };

        var command = new Command("eval", "Evaluate a model on zero-shot tasks (lm-eval semantics) and perplexity.");
        foreach (var option in new Option[] { model, tasks, limit, perplexityTokens, quant, fidelityTokens, output, batch, dataDir, seed })
            command.Options.Add(option);
        command.SetAction(parse =>
        {
            if (parse.GetValue(perplexityTokens) is < 2)
                throw new ArgumentException($"--perplexity-tokens must be at least 2, got {parse.GetValue(perplexityTokens)}.");
            var taskList = TaskRegistry.Parse(parse.GetValue(tasks)!, parse.GetValue(dataDir))
                .Select(task => task is PerplexityTask perplexity ? perplexity.WithMaxTokens(parse.GetValue(perplexityTokens)) : task).ToList();
            foreach (var task in taskList.Where(t => t.Skipped.Count > 0))
                AnsiConsole.MarkupLineInterpolated(
                    $"[yellow]warning:[/] {task.DisplayName}: skipped {task.Skipped.Count} record(s); first: {task.Skipped[0]}");

            // A bad preset or config file should fail before the model is read.
            if (parse.GetValue(quant) is { } requested && !Directory.Exists(requested))
                QuantConfig.Resolve(requested);
            if (parse.GetValue(fidelityTokens) is < 0 or 1)
                throw new ArgumentException($"--fidelity-tokens must be 0 (off) or at least 2, got {parse.GetValue(fidelityTokens)}.");
            var loaded = loadModel(parse.GetValue(model)!);
            string? quantLabel = null;
            if (parse.GetValue(quant) is { } quantArgument)
            {
                // The unquantized twin is kept only as long as the evaluation needs it.
                var reference = parse.GetValue(fidelityTokens) > 0 && loaded.Model is LlamaModel llama ? llama.Clone() : null;
                quantLabel = ApplyQuantization(loaded, quantArgument, parse.GetValue(model)!);
                if (reference is not null)
                    taskList = [.. taskList, NextTokenFidelityTask.FromText(reference, loaded.Tokenizer, TaskRegistry.HeldOutText(parse.GetValue(dataDir)), parse.GetValue(fidelityTokens))];
            }
            var scorer = new LoglikelihoodScorer(loaded.Model, loaded.Tokenizer, new ScoringOptions(BatchSize: parse.GetValue(batch)));
            var info = new EvalRunInfo(loaded.Name, QuantConfig: quantLabel, Seed: parse.GetValue(seed), Limit: parse.GetValue(limit));
            var results = RunWithProgress(scorer, taskList, info);

            string jsonl = parse.GetValue(output)!;
            EvalResultFiles.WriteJsonLines(jsonl, results);
            EvalResultFiles.WriteCsv(Path.ChangeExtension(jsonl, ".csv"), results);
            AnsiConsole.Write(MetricsTable(results));
            if (results.Any(r => r.Metric == "acc"))
                AnsiConsole.Write(ResultsTable.FromResults(results).ToSpectreTable());
            AnsiConsole.MarkupLineInterpolated($"Results: {jsonl} and {Path.ChangeExtension(jsonl, ".csv")}");
            return 0;
        });
        return command;
    }

    /// <summary>The checkpoint in the float32 LLaMA runtime with its tokenizer (see <see cref="Reproduction.LoadModel"/>).</summary>
    public static EvalModel LoadModel(string path)
    {
        var loaded = Reproduction.LoadModel(path);
        return new EvalModel(loaded.Name, loaded.Model, loaded.Tokenizer);
    }

    /// <summary>Loads or calibrates the --quant result, puts it on the model, and returns the label results are filed under ("name@hash").</summary>
    static string ApplyQuantization(EvalModel loaded, string quant, string modelPath) => loaded.Model is LlamaModel llama
        ? ModelFiles.Quantize(llama, quant, modelPath)
        : throw new NotSupportedException($"--quant {quant}: quantization needs a LLaMA model from the kit's runtime, not {loaded.Model.GetType().Name}.");

    static IReadOnlyList<EvalResult> RunWithProgress(LoglikelihoodScorer scorer, IReadOnlyList<IEvalTask> tasks, EvalRunInfo info)
    {
        IReadOnlyList<EvalResult> results = [];
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var bars = tasks.Select(t => context.AddTask(Markup.Escape(t.DisplayName), autoStart: false)).ToArray();
                results = EvalRunner.Run(scorer, tasks, info, new SynchronousProgress<TaskProgress>(p =>
                {
                    var bar = bars[p.TaskIndex];
                    bar.StartTask();
                    bar.MaxValue = p.Step.Total;
                    bar.Value = p.Step.Done;
                }));
                foreach (var bar in bars)
                    bar.Value = bar.MaxValue;
            });
        return results;
    }

    static Table MetricsTable(IReadOnlyList<EvalResult> results)
    {
        var table = new Table().AddColumns("task", "metric").AddColumn(new TableColumn("value").RightAligned())
            .AddColumn(new TableColumn("± stderr").RightAligned()).AddColumn(new TableColumn("n").RightAligned())
            .AddColumn(new TableColumn("seconds").RightAligned());
        foreach (var r in results)
            table.AddRow(Markup.Escape(StandInTasks.DisplayName(r.Task)), r.Metric, r.Value.ToString("G5"),
                r.Stderr?.ToString("G3") ?? "—", r.N.ToString(), r.WallTimeSeconds.ToString("F1"));
        return table;
    }
}
