using System.CommandLine;
using System.Globalization;
using LlmFp4.Kit.Models.Tokenizers;
using LlmFp4.Kit.Training;
using Spectre.Console;

namespace LlmFp4.Kit.Cli.Commands;

/// <summary>`llmfp4 train`: train a LLaMA-architecture model on the kit's corpus (the default model's recipe, or --quick).</summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var configOption = new Option<FileInfo?>("--config") { Description = "Training config JSON (default: the default model's recipe)." };
        var quickOption = new Option<bool>("--quick") { Description = "A tiny model for a few steps (smoke test; finishes in seconds)." };
        var outOption = new Option<DirectoryInfo>("--out")
        {
            Description = "Output folder: checkpoint, loss log, and the final model in Hugging Face layout.",
            DefaultValueFactory = _ => new DirectoryInfo(".work/train"),
        };
        var resumeOption = new Option<bool>("--resume") { Description = "Continue from the checkpoint in --out (same result as an uninterrupted run)." };
        var maxMinutesOption = new Option<double?>("--max-minutes") { Description = "Stop (after checkpointing) once this much wall time has passed." };

        var command = new Command("train", "Train a LLaMA-architecture model on the corpus (AdamW, warm-up + cosine, checkpoints, resume).")
        {
            configOption, quickOption, outOption, resumeOption, maxMinutesOption,
        };
        command.SetAction(parse =>
        {
            var configFile = parse.GetValue(configOption);
            bool quick = parse.GetValue(quickOption);
            if (configFile is not null && quick) throw new ArgumentException("train: give either --config or --quick, not both.");
            TrainingConfig config = configFile is not null
                ? TrainingConfig.FromJson(ReadFile(configFile.FullName), configFile.FullName)
                : quick ? TrainingConfig.Quick : TrainingConfig.Default;
            config.Validate();
            string outDir = parse.GetValue(outOption)!.FullName;
            double? maxMinutes = parse.GetValue(maxMinutesOption);
            if (maxMinutes is <= 0) throw new ArgumentException($"train: --max-minutes must be positive, got {maxMinutes}.");

            var tokenizer = BpeTokenizer.Load(config.Tokenizer);
            var data = TrainingData.Load(config, tokenizer, line => AnsiConsole.WriteLine(line));
            long parameters = new LlamaParameters(config.Model).Count;
            AnsiConsole.MarkupLineInterpolated(
                $"training {parameters:N0} parameters: {config.Steps} steps × {config.BatchSize}×{config.SequenceLength} tokens on {data.Train.Length:N0} training tokens; GEMM: {Tensors.Gemm.Backend.Name}");
            TimeSpan? maxTime = maxMinutes is { } minutes ? TimeSpan.FromMinutes(minutes) : null;
            bool resume = parse.GetValue(resumeOption);

            TrainingResult result = Console.IsOutputRedirected
                ? TrainingSession.Run(config, data, outDir, resume, maxTime, new SynchronousProgress<TrainingProgress>(WriteLine))
                : RunWithProgressBar(config, data, outDir, resume, maxTime);

            if (result.Finished)
            {
                File.Copy(config.Tokenizer, Path.Combine(outDir, "tokenizer.json"), overwrite: true);
                ModelCardCommand.Build(outDir);
                AnsiConsole.MarkupLineInterpolated($"[green]done[/]: {result.TokensSeen:N0} tokens in {result.ElapsedSeconds / 60:F1} min, final loss {result.LastLoss:F4}, validation {result.LastValidationLoss:F4}; model and MODEL_CARD.md in {outDir}");
            }
            else
            {
                AnsiConsole.MarkupLineInterpolated($"[yellow]stopped[/] at step {result.Step}/{result.Steps}; continue with --resume --out {outDir}");
            }
            return 0;
        });
        return command;
    }

    private static TrainingResult RunWithProgressBar(TrainingConfig config, TrainingData data, string outDir, bool resume, TimeSpan? maxTime)
    {
        TrainingResult? result = null;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var task = context.AddTask("training", maxValue: config.Steps);
                result = TrainingSession.Run(config, data, outDir, resume, maxTime, new SynchronousProgress<TrainingProgress>(p =>
                {
                    task.Value = p.Step;
                    task.Description = Describe(p);
                    if (p.ValidationLoss is not null) AnsiConsole.WriteLine(Describe(p));
                }));
            });
        return result!;
    }

    private static void WriteLine(TrainingProgress p)
    {
        if (p.Step % 10 == 0 || p.Step == p.Steps || p.ValidationLoss is not null || p.Step <= 3) Console.WriteLine(Describe(p));
    }

    private static string Describe(TrainingProgress p)
    {
        string line = FormattableString.Invariant(
            $"step {p.Step}/{p.Steps} loss {p.Loss:F4} lr {p.LearningRate:E2} |g| {p.GradientNorm:F2} {p.TokensPerSecond:F0} tok/s elapsed {p.Elapsed:hh\\:mm\\:ss} ETA {p.Remaining:hh\\:mm\\:ss}");
        return p.ValidationLoss is { } v ? line + FormattableString.Invariant($" val {v:F4}") : line;
    }

    private static string ReadFile(string path) =>
        File.Exists(path) ? File.ReadAllText(path) : throw new FileNotFoundException($"train: config file '{path}' not found.", path);
}
