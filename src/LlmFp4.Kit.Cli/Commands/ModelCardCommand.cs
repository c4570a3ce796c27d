using System.CommandLine;
using LlmFp4.Kit.Models.Tokenizers;
using LlmFp4.Kit.Training;
using Spectre.Console;

namespace LlmFp4.Kit.Cli.Commands;

/// <summary>`llmfp4 model-card DIR`: (re)write MODEL_CARD.md of a model trained by `llmfp4 train`.</summary>
public static class ModelCardCommand
{
    /// <summary>Prompts of the model card's samples: openings in the style of each part of the corpus, and plain ones.</summary>
    public static readonly string[] SamplePrompts =
    [
        "In the beginning",
        "And the LORD said unto Moses,",
        "It is a truth universally acknowledged",
        "Call me Ishmael.",
        "The state of the Union",
        "She had never",
        "The whale",
    ];

    public static Command Create()
    {
        var folderArgument = new Argument<DirectoryInfo>("folder") { Description = "Output folder of `llmfp4 train` (config, weights, tokenizer, training log)." };
        var command = new Command("model-card", "Write MODEL_CARD.md for a trained model: held-out and unigram perplexity, greedy samples.") { folderArgument };
        command.SetAction(parse =>
        {
            Build(parse.GetValue(folderArgument)!.FullName);
            return 0;
        });
        return command;
    }

    /// <summary>Builds the card of <paramref name="folder"/> with the tokenizer stored there, printing the perplexities.</summary>
    public static void Build(string folder)
    {
        string tokenizerPath = Path.Combine(folder, "tokenizer.json");
        if (!File.Exists(tokenizerPath)) throw new FileNotFoundException($"model-card: '{tokenizerPath}' not found.", tokenizerPath);
        var evaluations = ModelCard.Build(folder, BpeTokenizer.Load(tokenizerPath), SamplePrompts, log: line => AnsiConsole.WriteLine(line));
        foreach (var e in evaluations)
            AnsiConsole.MarkupLineInterpolated($"{e.Split}: perplexity {e.ModelPerplexity:F2} (unigram {e.UnigramPerplexity:F2}) over {e.PredictedTokens:N0} tokens");
        AnsiConsole.MarkupLineInterpolated($"wrote {Path.Combine(folder, "MODEL_CARD.md")}");
    }
}
