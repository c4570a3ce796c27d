using System.CommandLine;
using LlmFp4.Kit.Evaluation;
using LlmFp4.Kit.Experiments;
using LlmFp4.Kit.Tensors;
using Spectre.Console;

namespace LlmFp4.Kit.Cli.Commands;

/// <summary>`llmfp4 reproduce`: the LLM-FP4 Table 1 rows calibrated and evaluated end to end, with the table, result files and figures.</summary>
public static class ReproduceCommand
{
    /// <summary>Exit code of a run stopped with Ctrl-C (128 + SIGINT, as shells report it).</summary>
    public const int CancelledExitCode = 130;

    public static Command Create()
    {
        var quick = new Option<bool>("--quick")
        {
            Description = "The W4A4 rows only, on small settings (8 × 64 calibration tokens, 60 examples per task, 8,192 perplexity tokens), into results/reproduce-quick.",
        };
        var model = new Option<string?>("--model")
        {
            Description = "Model folder or checkpoint (default: data/models/pdllama-7m), or a sentence encoder (minilm, arcticxs or a BERT folder), scored on verse retrieval into results/reproduce-minilm[-quick].",
        };
        var output = new Option<string?>("--out") { Description = "Output folder (default: results/reproduce, or results/reproduce-quick with --quick)." };
        var force = new Option<bool>("--force") { Description = "Recalibrate and re-evaluate every row instead of reusing saved calibrations and finished rows." };
        var rows = new Option<string?>("--rows")
        {
            Description = $"Comma-separated rows instead of the paper's ({string.Join(", ", ReproductionConfig.PaperRows)}): {ReproductionConfig.FullPrecision} or a preset METHOD:BITS or a JSON quantization config.",
        };
        var config = new Option<string?>("--config") { Description = "A reproduction config (JSON) to start from instead of the built-in full or quick settings." };
        var dataDir = new Option<string?>("--data-dir") { Description = "The kit's data folder (default: found by walking up from here)." };

        var command = new Command("reproduce", "Calibrate and evaluate the LLM-FP4 Table 1 rows end to end; print the table, write results and figures.");
        foreach (var option in new Option[] { quick, model, output, force, rows, config, dataDir })
            command.Options.Add(option);
        command.SetAction(parse =>
        {
            var settings = Settings(parse.GetValue(config), parse.GetValue(quick), parse.GetValue(model), parse.GetValue(output),
                parse.GetValue(force), parse.GetValue(rows), parse.GetValue(dataDir));
            return Run(settings, writeRepositoryFigures: !settings.Quick && parse.GetValue(output) is null);
        });
        return command;
    }

    /// <summary>The run's config: the --config file or the built-in full / quick settings, with the command line's overrides, validated.</summary>
    public static ReproductionConfig Settings(string? configPath, bool quick, string? model, string? output, bool force, string? rows, string? dataDirectory)
    {
        ReproductionConfig settings;
        if (configPath is not null)
        {
            if (!File.Exists(configPath)) throw new FileNotFoundException($"Reproduction config file not found: {configPath}", configPath);
            settings = ReproductionConfig.FromJson(File.ReadAllText(configPath), configPath);
        }
        else if (model is not null && Reproduction.IsEncoder(model))
        {
            settings = quick ? ReproductionConfig.EncoderQuickRun : ReproductionConfig.EncoderRun;
        }
        else
        {
            settings = quick ? ReproductionConfig.QuickRun : ReproductionConfig.FullRun;
        }
        settings = settings with
        {
            ModelPath = model ?? settings.ModelPath,
            OutputDirectory = output ?? settings.OutputDirectory,
            Force = force || settings.Force,
            Rows = rows is null ? settings.Rows : rows.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            DataDirectory = dataDirectory ?? settings.DataDirectory,
        };
        settings.Validate();
        if (!Reproduction.IsEncoder(settings.ModelPath) && !Directory.Exists(settings.ModelPath) && !File.Exists(settings.ModelPath))
            throw new FileNotFoundException($"Model not found: {settings.ModelPath} (give --model a Hugging Face folder, a .gguf or a llama2.c .bin file).", settings.ModelPath);
        return settings;
    }

    private static int Run(ReproductionConfig settings, bool writeRepositoryFigures)
    {
        using var cancellation = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            cancellation.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            AnsiConsole.MarkupLineInterpolated($"[bold]llmfp4 reproduce[/]: {settings.Rows.Count} rows on {settings.ModelPath}; GEMM: {Gemm.Backend.Name}");
            Func<IProgress<ReproductionProgress>, CancellationToken, ReproductionResult> run;
            if (Reproduction.IsEncoder(settings.ModelPath))
            {
                var encoder = Reproduction.LoadEncoder(settings.ModelPath, line => AnsiConsole.WriteLine(line));
                run = (progress, token) => Reproduction.Run(settings, encoder, progress, token);
            }
            else
            {
                var model = Reproduction.LoadModel(settings.ModelPath, settings.DataDirectory);
                run = (progress, token) => Reproduction.Run(settings, model, progress, token);
            }
            var result = RunWithProgress(settings, run, cancellation.Token);

            AnsiConsole.WriteLine();
            AnsiConsole.MarkupLineInterpolated($"[grey]{ReproductionReport.Settings(result)}[/]");
            AnsiConsole.Write(ReproductionReport.Table(result).ToSpectreTable());
            // The default full run also files its figures with the notebooks' in the repository's figures/.
            string? figures = writeRepositoryFigures
                ? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(settings.DataDirectory ?? TaskRegistry.FindDataDirectory()))!, "figures")
                : null;
            var files = ReproductionReport.Write(result, settings.OutputDirectory, figures);
            AnsiConsole.MarkupLineInterpolated($"Results: {string.Join(", ", files.Paths.Where(p => !p.Contains("figures")))}");
            AnsiConsole.MarkupLineInterpolated($"Figures: {string.Join(", ", files.Paths.Where(p => p.Contains("figures")))}");
            if (files.PngSkipped is { } reason)
                AnsiConsole.MarkupLineInterpolated($"[yellow]PNG figures skipped:[/] {reason}");
            return 0;
        }
        catch (Exception ex) when (IsCancellation(ex))
        {
            AnsiConsole.MarkupLineInterpolated(
                $"[yellow]cancelled[/]: finished rows are kept in {Path.Combine(settings.OutputDirectory, Reproduction.RowsFolder)}; run the same command again to continue.");
            return CancelledExitCode;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    private static bool IsCancellation(Exception ex) =>
        ex is OperationCanceledException || (ex is AggregateException aggregate && aggregate.Flatten().InnerExceptions.All(e => e is OperationCanceledException));

    /// <summary>One bar for the whole run and one per row, each with elapsed time and ETA; a line per finished row.</summary>
    private static ReproductionResult RunWithProgress(ReproductionConfig settings,
        Func<IProgress<ReproductionProgress>, CancellationToken, ReproductionResult> run, CancellationToken cancellation)
    {
        ReproductionResult? result = null;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var overall = context.AddTask($"all {settings.Rows.Count} rows", maxValue: settings.Rows.Count);
                var bars = new Dictionary<int, ProgressTask>();
                result = run(new SynchronousProgress<ReproductionProgress>(p =>
                {
                    if (!bars.TryGetValue(p.RowIndex, out var bar))
                        bars[p.RowIndex] = bar = context.AddTask(Markup.Escape(p.Row), maxValue: 1);
                    string step = p.Stage is "calibrate" or "evaluate" ? $"{p.Stage} {p.Step} {p.Done}/{p.Total}" : p.Stage;
                    bar.Description = Markup.Escape($"{p.Row}: {step}");
                    bar.Value = p.RowFraction;
                    overall.Value = p.Overall;
                    if (p.Stage is "done" or "reused")
                        bar.Description = Markup.Escape($"{p.Row}: {(p.Stage == "reused" ? "reused" : "done")}");
                }), cancellation);
                overall.Value = overall.MaxValue;
            });
        return result!;
    }
}
