using System.CommandLine;
using LlmFp4.Kit.Notebooks;
using Spectre.Console;

namespace LlmFp4.Kit.Cli.Commands;

/// <summary>`llmfp4 notebooks run notebooks/*.ipynb [--quick] [--param k=v] [--timeout-s N] [--output DIR]`.</summary>
public static class NotebooksCommand
{
    public static Command Create()
    {
        var command = new Command("notebooks", "Work with the C# notebooks.");
        command.Subcommands.Add(CreateRun());
        return command;
    }

    private static Command CreateRun()
    {
        var notebooks = new Argument<string[]>("notebooks")
        {
            Description = "Notebook files (.ipynb), or folders whose notebooks run in name order.",
            Arity = ArgumentArity.OneOrMore,
        };
        var quick = new Option<bool>("--quick") { Description = "CI-sized work: the same as --param quick=true." };
        var parameters = new Option<string[]>("--param")
        {
            Description = "name=value, read in a notebook with NotebookParameters.Get(\"name\", default). Repeatable.",
            DefaultValueFactory = _ => [],
        };
        var timeout = new Option<int>("--timeout-s") { Description = "Seconds allowed per notebook.", DefaultValueFactory = _ => 600 };
        var output = new Option<string?>("--output") { Description = "Folder for the executed notebooks (default: write them back in place)." };

        var command = new Command("run", "Execute notebooks headlessly and write their outputs into the .ipynb files.")
        {
            notebooks, quick, parameters, timeout, output,
        };
        command.SetAction(parse =>
        {
            var paths = Expand(parse.GetValue(notebooks)!);
            var options = new NotebookRunOptions
            {
                Parameters = ParseParameters(parse.GetValue(parameters)!, parse.GetValue(quick)),
                Timeout = TimeSpan.FromSeconds(parse.GetValue(timeout) is > 0 and var seconds
                    ? seconds
                    : throw new ArgumentException("--timeout-s must be a positive number of seconds.")),
            };
            var destinations = Destinations(paths, parse.GetValue(output));
            var results = RunAll(paths, destinations, options);
            PrintSummary(paths, results);
            int failed = results.Count(r => !r.Succeeded);
            if (failed > 0)
                AnsiConsole.MarkupLineInterpolated($"[red]{failed} of {paths.Count} notebook(s) failed.[/]");
            return failed == 0 ? 0 : 1;
        });
        return command;
    }

    private static List<NotebookRunResult> RunAll(IReadOnlyList<string> paths, IReadOnlyList<string> destinations, NotebookRunOptions options)
    {
        var results = new List<NotebookRunResult>();
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(context =>
            {
                for (int i = 0; i < paths.Count; i++)
                {
                    var task = context.AddTask(Markup.Escape(Path.GetFileName(paths[i])));
                    var progress = new SynchronousProgress<NotebookProgress>(p =>
                    {
                        task.MaxValue = Math.Max(1, p.CodeCellCount);
                        task.Value = p.CodeCellsDone;
                    });
                    results.Add(NotebookRunner.Run(paths[i], destinations[i], options, progress));
                    task.StopTask();
                }
            });
        return results;
    }

    /// <summary>A table of all runs, then each failure's full error on its own plain line (tables wrap long text).</summary>
    private static void PrintSummary(IReadOnlyList<string> paths, IReadOnlyList<NotebookRunResult> results)
    {
        var table = new Table().AddColumns("Notebook", "Cells run", "Time", "Result");
        for (int i = 0; i < paths.Count; i++)
        {
            var r = results[i];
            string status = r.Succeeded ? "[green]ok[/]"
                : r.TimedOut ? $"[red]timed out in cell {r.FailedCellIndex}[/]"
                : $"[red]failed at cell {r.FailedCellIndex}[/]";
            table.AddRow(Markup.Escape(paths[i]), $"{r.ExecutedCells}/{r.CodeCells}", $"{r.Elapsed.TotalSeconds:0.0} s", status);
        }
        AnsiConsole.Write(table);
        for (int i = 0; i < paths.Count; i++)
            if (!results[i].Succeeded)
                Console.Error.WriteLine($"{paths[i]}: {results[i].Error} (outputs written to {results[i].OutputPath})");
    }

    private static List<string> Expand(IEnumerable<string> arguments)
    {
        var paths = new List<string>();
        foreach (string argument in arguments)
        {
            if (Directory.Exists(argument))
                paths.AddRange(Directory.GetFiles(argument, "*.ipynb").Order(StringComparer.Ordinal));
            else if (File.Exists(argument))
                paths.Add(argument);
            else
                throw new FileNotFoundException($"Notebook '{argument}' does not exist.");
        }
        if (paths.Count == 0)
            throw new ArgumentException($"No notebooks found in {string.Join(", ", arguments)}.");
        return paths;
    }

    private static List<string> Destinations(IReadOnlyList<string> paths, string? outputDirectory)
    {
        if (outputDirectory is null)
            return [.. paths];
        var destinations = paths.Select(p => Path.Combine(outputDirectory, Path.GetFileName(p))).ToList();
        if (destinations.Distinct(StringComparer.Ordinal).Count() != destinations.Count)
            throw new ArgumentException($"Two notebooks have the same file name, so --output {outputDirectory} would hold only one of them.");
        return destinations;
    }

    private static Dictionary<string, string> ParseParameters(IEnumerable<string> pairs, bool quick)
    {
        var parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (string pair in pairs)
        {
            int equals = pair.IndexOf('=');
            if (equals <= 0)
                throw new ArgumentException($"--param '{pair}' is not name=value.");
            parameters[pair[..equals].Trim()] = pair[(equals + 1)..].Trim();
        }
        if (quick)
            parameters["quick"] = "true";
        return parameters;
    }

}
