using System.CommandLine;
using LlmFp4.Kit.Evaluation;
using Spectre.Console;

namespace LlmFp4.Kit.Cli.Commands;

/// <summary>`llmfp4 tasks generate`: build the stand-in tasks from the held-out corpus split.</summary>
public static class TasksCommand
{
    public static Command Create()
    {
        var corpus = new Option<string>("--corpus") { Description = "Held-out corpus text (documents separated by blank lines).", DefaultValueFactory = _ => "data/corpus/test.txt" };
        var output = new Option<string>("--out") { Description = "Folder for continuation.jsonl and lastword.jsonl.", DefaultValueFactory = _ => "data/tasks" };
        var seed = new Option<int>("--seed") { Description = "Seed of the generator.", DefaultValueFactory = _ => 0 };
        var count = new Option<int>("--count") { Description = "Items per task (fewer if the corpus runs out).", DefaultValueFactory = _ => 500 };

        var generate = new Command("generate", "Generate the stand-in tasks (continuation, lastword) from held-out text. They are stand-ins, not the real benchmarks.");
        generate.Options.Add(corpus);
        generate.Options.Add(output);
        generate.Options.Add(seed);
        generate.Options.Add(count);
        generate.SetAction(parse =>
        {
            int n = parse.GetValue(count);
            if (n < 1)
                throw new ArgumentException($"--count must be at least 1, got {n}.");
            var options = new StandInTaskOptions(Seed: parse.GetValue(seed), ContinuationCount: n, LastWordCount: n);
            string outDir = parse.GetValue(output)!;
            var (continuation, lastWord) = StandInTasks.GenerateFiles(parse.GetValue(corpus)!, outDir, options);
            AnsiConsole.MarkupLineInterpolated($"Wrote {continuation} items of [bold]continuation (stand-in)[/] and {lastWord} of [bold]lastword (stand-in)[/] to {outDir} (seed {options.Seed}).");
            return 0;
        });

        var command = new Command("tasks", "Evaluation tasks: generate the stand-ins.");
        command.Subcommands.Add(generate);
        return command;
    }
}
