using System.CommandLine;
using System.Diagnostics;
using LlmFp4.Kit.Models;

namespace LlmFp4.Kit.Cli.Commands;

/// <summary>`llmfp4 generate`: continue a prompt with a model, streaming the text to stdout.</summary>
public static class GenerateCommand
{
    public static Command Create()
    {
        var model = new RunModelOptions();
        var prompt = new Option<string>("--prompt") { Description = "Text to continue.", Required = true };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Most tokens to generate.", DefaultValueFactory = _ => 64 };
        var temperature = new Option<double>("--temperature") { Description = "Sampling temperature; 0 = greedy.", DefaultValueFactory = _ => 0.7 };
        var topK = new Option<int>("--top-k") { Description = "Sample among the K most likely tokens; 0 = all.", DefaultValueFactory = _ => 40 };
        var topP = new Option<double>("--top-p") { Description = "Nucleus sampling threshold; 1 = off.", DefaultValueFactory = _ => 1.0 };
        var seed = new Option<int>("--seed") { Description = "Seed of the sampler: same seed, same text.", DefaultValueFactory = _ => 0 };

        var command = new Command("generate", "Continue a prompt with a model (KV-cache decoding), streaming tokens to stdout.");
        model.AddTo(command);
        foreach (var option in new Option[] { prompt, maxTokens, temperature, topK, topP, seed })
            command.Options.Add(option);
        command.SetAction(parse =>
        {
            var settings = new GenerationSettings
            {
                MaxNewTokens = parse.GetValue(maxTokens),
                Temperature = parse.GetValue(temperature),
                TopK = parse.GetValue(topK),
                TopP = parse.GetValue(topP),
                Seed = parse.GetValue(seed),
            };
            settings.Validate();
            var loaded = model.Load(parse);

            string text = parse.GetValue(prompt)!;
            var output = Console.Out;
            output.Write(text);
            output.Flush();
            int tokens = 0;
            var clock = Stopwatch.StartNew();
            foreach (string piece in new TextGenerator(loaded.Model, loaded.Tokenizer).Stream(text, settings))
            {
                tokens++;
                output.Write(piece);
                output.Flush();
            }
            output.WriteLine();
            Console.Error.WriteLine($"{tokens} tokens in {clock.Elapsed.TotalSeconds:F2} s ({tokens / clock.Elapsed.TotalSeconds:F1} tokens/s, prompt included in the time)");
            return 0;
        });
        return command;
    }
}
