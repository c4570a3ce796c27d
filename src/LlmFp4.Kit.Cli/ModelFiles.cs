using System.CommandLine;
using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Evaluation;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Loading;
using LlmFp4.Kit.Models.Tokenizers;
using LlmFp4.Kit.Quantization;
using Spectre.Console;

namespace LlmFp4.Kit.Cli;

/// <summary>Reading models and calibration text for the verbs that quantize.</summary>
internal static class ModelFiles
{
    /// <summary>The <c>--keep-stored-weights</c> flag of the verbs that run a model.</summary>
    public static Option<bool> KeepStoredWeightsOption() => new("--keep-stored-weights")
    {
        Description = "Keep F16/BF16 linear weights memory-mapped in the checkpoint and convert each layer when it runs (less memory, slower).",
    };

    /// <summary>
    /// Loads or calibrates the <c>--quant</c> result (a `llmfp4 calibrate` folder, or a preset / JSON config, cached under
    /// results/calibration), puts it on <paramref name="model"/> and returns the label results are filed under ("name@hash").
    /// </summary>
    public static string Quantize(LlamaModel model, string quant, string modelPath)
    {
        var result = CalibrationCache.Resolve(quant, model, CalibrationCache.DefaultRoot,
            config => CalibrationSet(config.Calibration, null, null), modelSource: modelPath,
            progress: new SynchronousProgress<CalibrationProgress>(p =>
            {
                if (p.Stage == "layers") AnsiConsole.MarkupLineInterpolated($"[grey]calibrating {quant}: {p.Item} ({p.Done}/{p.Total})[/]");
            }));
        result.Apply(model);
        return $"{result.Config.Name ?? "config"}@{result.ConfigHash}";
    }

    /// <summary>Calibration windows from the training split (or <paramref name="textPath"/>) with the kit's tokenizer (or <paramref name="tokenizerPath"/>).</summary>
    public static CalibrationSet CalibrationSet(CalibrationDataSettings settings, string? textPath, string? tokenizerPath)
    {
        textPath ??= Path.Combine(TaskRegistry.FindDataDirectory("corpus"), "corpus", "train.txt");
        tokenizerPath ??= Path.Combine(TaskRegistry.FindDataDirectory("tokenizer"), "tokenizer", "tokenizer.json");
        return Calibration.CalibrationSet.FromTextFile(textPath, BpeTokenizer.Load(tokenizerPath), settings);
    }
}
