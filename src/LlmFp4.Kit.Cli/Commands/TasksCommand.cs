using System.CommandLine;
using LlmFp4.Kit.Data;
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

        var command = new Command("tasks", "Evaluation tasks: generate the stand-ins, build the verse-retrieval task.");
        command.Subcommands.Add(generate);
        command.Subcommands.Add(Verses());
        return command;
    }

    /// <summary>`llmfp4 tasks verses`: the KJV ↔ WEB verse-retrieval task from Debian's SWORD modules (see <see cref="VerseRetrievalBuilder"/>).</summary>
    private static Command Verses()
    {
        var defaults = new VerseRetrievalOptions();
        var output = new Option<string>("--out") { Description = "Folder for pairs.jsonl, calibration.txt and their provenance.", DefaultValueFactory = _ => Path.Combine("data", "tasks", "verse-retrieval") };
        var seed = new Option<int>("--seed") { Description = "Seed of the shuffle that picks the verses.", DefaultValueFactory = _ => defaults.Seed };
        var pairs = new Option<int>("--pairs") { Description = "Evaluated verse pairs.", DefaultValueFactory = _ => defaults.Pairs };
        var calibration = new Option<int>("--calibration") { Description = "Further verses for calibration text.", DefaultValueFactory = _ => defaults.CalibrationVerses };
        var diatheke = new Option<string>("--diatheke") { Description = "The diatheke program.", DefaultValueFactory = _ => "diatheke" };

        var command = new Command("verses", "Build the KJV ↔ World English Bible verse-retrieval task from Debian's sword-text-kjv and sword-text-web (via diatheke).");
        foreach (var option in new Option[] { output, seed, pairs, calibration, diatheke })
            command.Options.Add(option);
        command.SetAction(parse =>
        {
            if (parse.GetValue(pairs) < 2 || parse.GetValue(calibration) < 0)
                throw new ArgumentException("--pairs must be at least 2 and --calibration at least 0.");
            var options = new VerseRetrievalOptions(parse.GetValue(seed), parse.GetValue(pairs), parse.GetValue(calibration));
            var manifest = VerseRetrievalBuilder.Build(parse.GetValue(output)!, options, parse.GetValue(diatheke)!,
                line => AnsiConsole.MarkupLineInterpolated($"[grey]{line}[/]"));
            AnsiConsole.MarkupLineInterpolated(
                $"{manifest.CommonVerses} verses in both translations, {manifest.UsableVerses} usable: wrote {options.Pairs} pairs and {options.CalibrationVerses} calibration verses to {parse.GetValue(output)}.");
            return 0;
        });
        return command;
    }
}
