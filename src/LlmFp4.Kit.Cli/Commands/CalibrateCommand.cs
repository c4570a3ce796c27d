using System.Globalization;
using System.CommandLine;
using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Evaluation;
using LlmFp4.Kit.Experiments;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Loading;
using LlmFp4.Kit.Models.Tokenizers;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tensors;
using Spectre.Console;

namespace LlmFp4.Kit.Cli.Commands;

/// <summary>`llmfp4 calibrate`: runs a quantization method on a model and saves the result folder.</summary>
public static class CalibrateCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model")
        {
            Description = "Model folder or checkpoint (safetensors/HF folder, GGUF, llama2.c), or a sentence encoder (minilm, arcticxs or a BERT folder).",
            Required = true,
        };
        var config = new Option<string>("--config")
        {
            Description = $"Preset METHOD[:BITS] ({string.Join(", ", QuantPresets.Methods)}; BITS wXaY or E/W/A like 4/4/4), one of {string.Join(", ", QuantPresets.Named.Keys)}, or a JSON config file.",
            Required = true,
        };
        var size = new Option<int?>("--calib-size") { Description = "Calibration windows N (default: the config's, 32)." };
        var length = new Option<int?>("--calib-len") { Description = "Tokens per window L (default: the config's, 512)." };
        var seed = new Option<int?>("--seed") { Description = "Seed of the window draw (default: the config's, 0)." };
        var text = new Option<string?>("--train-text")
        {
            Description = "Text to draw windows from (default: data/corpus/train.txt); for an encoder, one sentence per line (default: the verse task's calibration verses).",
        };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "tokenizer.json (default: data/tokenizer/tokenizer.json)." };
        var output = new Option<string?>("--out") { Description = $"Result folder (default: {CalibrationCache.DefaultRoot}/MODELHASH-CONFIGHASH-GEMMHASH)." };
        var dryRun = new Option<bool>("--dry-run")
        {
            Description = "Print the projected time and peak memory of this calibration (the kit's fitted cost model, FPQ search methods) and exit without calibrating or writing anything.",
        };
        var command = new Command("calibrate", "Calibrate a quantization config on a model (MinMax, FPQ baseline, FPQ, SmoothQuant, GPTQ, RPTQ, FPTQ) and save the result.");
        foreach (var option in new Option[] { model, config, size, length, seed, text, tokenizer, output, dryRun })
            command.Options.Add(option);
        command.SetAction(parse =>
        {
            var quant = WithCalibration(QuantConfig.Resolve(parse.GetValue(config)!), parse.GetValue(size), parse.GetValue(length), parse.GetValue(seed));
            string modelPath = parse.GetValue(model)!;
            if (parse.GetValue(dryRun)) return DryRun(quant, modelPath);
            IQuantizableModel loaded;
            CalibrationSet set;
            if (Reproduction.IsEncoder(modelPath))
            {
                var encoder = Reproduction.LoadEncoder(modelPath, line => AnsiConsole.MarkupLineInterpolated($"[grey]{line}[/]")).Encoder;
                (loaded, set) = (encoder.Model, Reproduction.EncoderCalibrationSet(encoder, quant.Calibration, parse.GetValue(text)));
            }
            else
            {
                (loaded, set) = (CheckpointLoader.LoadModel(modelPath), ModelFiles.CalibrationSet(quant.Calibration, parse.GetValue(text), parse.GetValue(tokenizer)));
            }
            AnsiConsole.MarkupLineInterpolated($"[bold]{quant.Name ?? "config"}[/] (hash {quant.Hash}) on {modelPath}: {set.Windows.Count} sequences, {set.TokenCount} tokens; GEMM: {Gemm.Backend.Name}");
            var result = RunWithProgress(loaded, quant, set, modelPath);
            string directory = parse.GetValue(output) ?? CalibrationCache.DirectoryFor(CalibrationCache.DefaultRoot, result.Model, quant);
            result.Save(directory);
            AnsiConsole.Write(Summary(result));
            AnsiConsole.MarkupLineInterpolated($"Calibrated in {result.Timings["total"]:F1} s; saved to {directory}");
            AnsiConsole.MarkupLineInterpolated($"[grey]Where the time went: {TimeBreakdown(result.Timings)}[/]");
            return 0;
        });
        return command;
    }

    /// <summary>"capture 8.3 s, search: activation sweep 353.4 s, …": every stage but the per-group ones and the totals.</summary>
    internal static string TimeBreakdown(IReadOnlyDictionary<string, double> timings) =>
        string.Join(", ", timings.Where(t => !t.Key.StartsWith("group ", StringComparison.Ordinal) && t.Key is not ("layers" or "total"))
            .Select(t => string.Create(CultureInfo.InvariantCulture, $"{t.Key} {t.Value:F1} s")));

    /// <summary>
    /// `--dry-run`: the model's shape from its config alone (no weights read), the config's budget knobs, and the projection
    /// of <see cref="CalibrationCost.Fitted"/>; nothing is calibrated or written.
    /// </summary>
    private static int DryRun(QuantConfig quant, string modelPath)
    {
        if (Reproduction.IsEncoder(modelPath))
            throw new ArgumentException($"--dry-run: the cost model is measured on LLaMA-architecture models; {modelPath} is a sentence encoder.");
        LlamaShape shape;
        int context;
        using (var checkpoint = CheckpointLoader.Open(modelPath)) (shape, context) = (LlamaShape.Of(checkpoint.Config), checkpoint.Config.MaxPositionEmbeddings);
        // The check a real run makes at its first window, so that a dry run never projects a calibration that cannot start.
        if (quant.Calibration.SequenceLength > context)
            throw new ArgumentException($"calibration windows of {quant.Calibration.SequenceLength} tokens are longer than the model's context length {context} (max_position_embeddings); lower --calib-len.");
        var setting = CostSetting.Of(quant);
        var cost = CalibrationCost.Fitted;
        AnsiConsole.MarkupLineInterpolated($"[bold]{quant.Name ?? "config"}[/] (hash {quant.Hash}) on {modelPath}: {shape}");
        if (quant.Method is not FpSearchSettings)
        {
            AnsiConsole.MarkupLineInterpolated($"No projection: the cost model is measured for the FPQ search (fpq, fpq-baseline), not {quant.Method.Name}.");
        }
        else
        {
            AnsiConsole.MarkupLineInterpolated($"Calibration: {setting}.");
            AnsiConsole.MarkupLineInterpolated($"Projected CPU time: {cost.Project(shape, setting)}.");
            AnsiConsole.MarkupLineInterpolated($"(Fitted at {cost.Setting} on a {cost.Threads}-thread machine; the wall time on {Environment.ProcessorCount} free cores can be down to 1/{Environment.ProcessorCount} of the CPU time.)");
            if (CalibrationCost.WidthCaveat(setting) is { } caveat) AnsiConsole.MarkupLineInterpolated($"[yellow]{caveat}[/]");
        }
        AnsiConsole.MarkupLine("Dry run: nothing calibrated, nothing written.");
        return 0;
    }

    /// <summary>The config with the command line's calibration-data overrides (null keeps the config's value), validated.</summary>
    public static QuantConfig WithCalibration(QuantConfig config, int? size, int? length, int? seed)
    {
        var calibration = config.Calibration with
        {
            Samples = size ?? config.Calibration.Samples,
            SequenceLength = length ?? config.Calibration.SequenceLength,
            Seed = seed ?? config.Calibration.Seed,
        };
        var result = config with { Calibration = calibration };
        result.Validate();
        return result;
    }

    /// <summary>Runs the calibration under a Spectre progress display: one bar for the layers, one for the current phase.</summary>
    internal static CalibrationResult RunWithProgress(IQuantizableModel model, QuantConfig config, CalibrationSet set, string source)
    {
        CalibrationResult? result = null;
        AnsiConsole.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var overall = context.AddTask("layers");
                var phase = context.AddTask("capture");
                result = Calibrator.Run(model, config, set, new SynchronousProgress<CalibrationProgress>(p =>
                {
                    var bar = p.Stage == CalibrationStage.Layers ? overall : phase;
                    bar.Description = Markup.Escape($"{p.Stage.ToString().ToLowerInvariant()}: {p.Item}");
                    bar.MaxValue = Math.Max(1, p.Total);
                    bar.Value = p.Done;
                }), source);
            });
        return result!;
    }

    private static Table Summary(CalibrationResult result)
    {
        var table = new Table().AddColumns("layer", "weights", "activations")
            .AddColumn(new TableColumn("output MSE").RightAligned()).AddColumn(new TableColumn("rounds").RightAligned())
            .AddColumn(new TableColumn("folded off-grid").RightAligned());
        foreach (var layer in result.Layers)
            table.AddRow(Markup.Escape(layer.Name), layer.WeightFormat ?? "—", layer.ActivationFormat ?? "—",
                layer.OutputMse?.ToString("G4") ?? "—",
                layer.Details is FpqLayerResult { Search: var s } ? $"{s.Rounds.Count}{(s.ConvergedAfterRound is { } c ? $" (stable after {c})" : "")}" : "—",
                layer.Details is FpqLayerResult { Fold: { } f } ? $"{f.OffGrid}/{f.NonZero}" : "—");
        if (result.Embedding is { } e)
            table.AddRow("token embedding", e.Format, "—", $"{e.Mse:G4} (table)", "—", "—");
        return table;
    }
}
