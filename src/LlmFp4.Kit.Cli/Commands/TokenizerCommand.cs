using System.CommandLine;
using System.Diagnostics;
using System.Text;
using LlmFp4.Kit.Data;
using LlmFp4.Kit.Models.Tokenizers;
using Spectre.Console;

namespace LlmFp4.Kit.Cli.Commands;

/// <summary>`llmfp4 tokenizer train|encode`: train a byte-level BPE tokenizer.json, or encode text with any tokenizer.json.</summary>
public static class TokenizerCommand
{
    public static Command Create()
    {
        var command = new Command("tokenizer", "Train or apply a BPE tokenizer (Hugging Face tokenizer.json).");
        command.Subcommands.Add(Train());
        command.Subcommands.Add(Encode());
        return command;
    }

    private static Command Train()
    {
        var corpus = new Option<FileInfo>("--corpus") { Description = "Training text (UTF-8).", Required = true };
        var vocab = new Option<int>("--vocab") { Description = "Vocabulary size (special tokens + 256 bytes + merges).", DefaultValueFactory = _ => 4096 };
        var output = new Option<FileInfo>("--out") { Description = "tokenizer.json to write.", Required = true };
        var command = new Command("train", "Train a byte-level BPE tokenizer (GPT-2 scheme) and save it as tokenizer.json.") { corpus, vocab, output };
        command.SetAction(parse =>
        {
            var input = parse.GetValue(corpus)!;
            if (!input.Exists)
                throw new FileNotFoundException($"Corpus file '{input.FullName}' does not exist.");
            var settings = new BpeTrainerSettings(VocabSize: parse.GetValue(vocab));
            var watch = Stopwatch.StartNew();
            string json = "";
            AnsiConsole.Progress().Start(ctx =>
            {
                var task = ctx.AddTask("merges", maxValue: Math.Max(1, settings.VocabSize - settings.SpecialTokensOrDefault.Count - 256));
                json = BpeTrainer.Train([File.ReadAllText(input.FullName, Encoding.UTF8)], settings,
                    new SynchronousProgress<BpeTrainingProgress>(p => task.Value = p.Merges));
                task.Value = task.MaxValue;
            });
            var path = parse.GetValue(output)!.FullName;
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            CorpusBuilder.WriteAtomically(path, Encoding.UTF8.GetBytes(json));
            var tokenizer = BpeTokenizer.Load(path);
            AnsiConsole.MarkupLineInterpolated($"{tokenizer.VocabSize} tokens ({tokenizer.Model.MergeCount} merges) trained in {watch.Elapsed.TotalSeconds:F1} s → {path}");
            return 0;
        });
        return command;
    }

    private static Command Encode()
    {
        var tokenizerPath = new Option<FileInfo>("--tokenizer") { Description = "tokenizer.json to use.", Required = true };
        var text = new Option<string?>("--text") { Description = "Text to encode; prints the ids and tokens, special tokens included (as Hugging Face's encode)." };
        var files = new Option<FileInfo[]>("--file")
        {
            Description = "Text files to encode; prints token counts, tokens per byte and whether decoding gives the text back.",
            AllowMultipleArgumentsPerToken = true,
        };
        var command = new Command("encode", "Encode text with a tokenizer.json.") { tokenizerPath, text, files };
        command.SetAction(parse =>
        {
            var tokenizer = BpeTokenizer.Load(parse.GetValue(tokenizerPath)!.FullName);
            var inputs = parse.GetValue(files) ?? [];
            if (parse.GetValue(text) is { } s)
            {
                var ids = tokenizer.Encode(s, addSpecialTokens: true);
                Console.WriteLine(string.Join(",", ids));
                Console.WriteLine(string.Join(" ", ids.Select(id => tokenizer.IdToToken(id))));
                return 0;
            }
            if (inputs.Length == 0)
                throw new ArgumentException("Give --text or --file.");
            var table = new Table().AddColumns("file", "bytes", "tokens", "tokens/byte", "bytes/token", "seconds", "round trip");
            foreach (var file in inputs)
            {
                var content = File.ReadAllText(file.FullName, Encoding.UTF8);
                var watch = Stopwatch.StartNew();
                var ids = tokenizer.Encode(content);
                double seconds = watch.Elapsed.TotalSeconds;
                long bytes = Encoding.UTF8.GetByteCount(content);
                bool exact = tokenizer.Decode(ids) == content;
                table.AddRow(file.Name, bytes.ToString("N0"), ids.Length.ToString("N0"), $"{(double)ids.Length / bytes:F4}",
                    $"{(double)bytes / ids.Length:F3}", $"{seconds:F2}", exact ? "exact" : "[red]differs[/]");
            }
            AnsiConsole.Write(table);
            return 0;
        });
        return command;
    }
}
