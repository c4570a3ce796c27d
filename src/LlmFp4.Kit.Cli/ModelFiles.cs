using System.CommandLine;
using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Evaluation;
using LlmFp4.Kit.Experiments;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Bert;
using LlmFp4.Kit.Models.Loading;
using LlmFp4.Kit.Models.Tokenizers;
using LlmFp4.Kit.Quantization;
using Spectre.Console;

namespace LlmFp4.Kit.Cli;

/// <summary>
/// The options of the verbs that run one model (generate, logprobs): --model, --quant, --tokenizer and
/// --keep-stored-weights, and the model they name, loaded and quantized.
/// </summary>
internal sealed class RunModelOptions
{
    private readonly Option<string> _model = new("--model") { Description = "Model folder (Hugging Face layout), .gguf or llama2.c .bin.", Required = true };
    private readonly Option<string?> _quant = new("--quant") { Description = "Quantize first: a `llmfp4 calibrate` result folder, or a preset / JSON config (as in `llmfp4 eval`)." };
    private readonly Option<string?> _tokenizer = new("--tokenizer") { Description = "tokenizer.json (default: the one beside the model, else the kit's)." };
    private readonly Option<bool> _keepStoredWeights = new("--keep-stored-weights")
    {
        Description = "Keep F16/BF16 linear weights memory-mapped in the checkpoint and convert each layer when it runs (less memory, slower).",
    };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { _model, _quant, _tokenizer, _keepStoredWeights })
            command.Options.Add(option);
    }

    /// <summary>The model and tokenizer the options name, with the --quant result applied when given.</summary>
    public LoadedModel Load(ParseResult parse)
    {
        string modelPath = parse.GetValue(_model)!;
        var loaded = Reproduction.LoadModel(modelPath, tokenizerPath: parse.GetValue(_tokenizer), keepStoredWeights: parse.GetValue(_keepStoredWeights));
        if (parse.GetValue(_quant) is { } quant) ModelFiles.Quantize(loaded.Model, quant, modelPath);
        return loaded;
    }
}

/// <summary>Reading models and calibration text for the verbs that quantize.</summary>
internal static class ModelFiles
{
    /// <summary>
    /// Loads or calibrates the <c>--quant</c> result (a `llmfp4 calibrate` folder, or a preset / JSON config, cached under
    /// results/calibration), puts it on <paramref name="model"/> and returns the label results are filed under ("name@hash").
    /// </summary>
    public static string Quantize(LlamaModel model, string quant, string modelPath) =>
        Quantize(model, quant, modelPath, config => CalibrationSet(config.Calibration, null, null));

    /// <summary>
    /// As <see cref="Quantize(LlamaModel, string, string)"/> for a sentence encoder, calibrated (when the result is not
    /// saved yet) on the verse task's calibration sentences.
    /// </summary>
    public static string Quantize(SentenceEncoder encoder, string quant, string modelPath) =>
        Quantize(encoder.Model, quant, modelPath, config => Reproduction.EncoderCalibrationSet(encoder, config.Calibration));

    private static string Quantize(IQuantizableModel model, string quant, string modelPath, Func<QuantConfig, CalibrationSet> calibrationSet)
    {
        var result = CalibrationCache.Resolve(quant, model, CalibrationCache.DefaultRoot, calibrationSet, modelSource: modelPath,
            progress: new SynchronousProgress<CalibrationProgress>(p =>
            {
                if (p.Stage == CalibrationStage.Layers) AnsiConsole.MarkupLineInterpolated($"[grey]calibrating {quant}: {p.Item} ({p.Done}/{p.Total})[/]");
            }));
        if (result.LoadNote is { } note) AnsiConsole.MarkupLineInterpolated($"[yellow]{note}[/]");
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
