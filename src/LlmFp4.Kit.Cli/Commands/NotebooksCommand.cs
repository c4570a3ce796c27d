using System.CommandLine;
using LlmFp4.Kit.Cli.Notebooks;
using Spectre.Console;

namespace LlmFp4.Kit.Cli.Commands;

/// <summary>
/// `llmfp4 notebooks run NOTEBOOKS… [--quick] [--param k=v] [--timeout-s N] [--output DIR] [--html DIR]` (real Jupyter and
/// the .NET Interactive kernel) and `llmfp4 notebooks export NOTEBOOK --to app [--output FILE]` (a file-based app).
/// </summary>
public static class NotebooksCommand
{
    public static Command Create()
    {
        var command = new Command("notebooks", "Run the C# notebooks in Jupyter, or export one as a file-based app.");
        command.Subcommands.Add(CreateRun());
        command.Subcommands.Add(CreateExport());
        return command;
    }

    private static Command CreateRun()
    {
        var notebooks = new Argument<string[]>("notebooks")
        {
            Description = "Notebook files (.ipynb), or folders whose notebooks run in name order.",
            Arity = ArgumentArity.OneOrMore,
        };
        var quick = new Option<bool>("--quick") { Description = "CI-sized work: the same as --param quick=1 (LLMFP4_QUICK=1)." };
        var parameters = new Option<string[]>("--param")
        {
            Description = "name=value, passed to the notebook as the environment variable LLMFP4_NAME. Repeatable.",
            DefaultValueFactory = _ => [],
        };
        var timeout = new Option<int>("--timeout-s") { Description = "Seconds one cell may run.", DefaultValueFactory = _ => 1800 };
        var output = new Option<string?>("--output") { Description = "Folder for the executed notebooks (default: write them back in place)." };
        var html = new Option<string?>("--html")
        {
            Description = "Also convert each executed notebook to HTML in this folder and check in headless Chromium that every figure is drawn.",
        };

        var command = new Command("run", "Execute notebooks in Jupyter with the .NET Interactive C# kernel and write their outputs into the .ipynb files.")
        {
            notebooks, quick, parameters, timeout, output, html,
        };
        command.SetAction(parse =>
        {
            var paths = Expand(parse.GetValue(notebooks)!);
            var values = ParseParameters(parse.GetValue(parameters)!, parse.GetValue(quick));
            var cellTimeout = TimeSpan.FromSeconds(parse.GetValue(timeout) is > 0 and var seconds
                ? seconds
                : throw new ArgumentException("--timeout-s must be a positive number of seconds."));
            var destinations = Destinations(paths, parse.GetValue(output));
            var runs = new List<JupyterRun>();
            for (int i = 0; i < paths.Count; i++)
            {
                AnsiConsole.MarkupLineInterpolated($"[grey]running[/] {paths[i]} …");
                var run = Jupyter.Run(paths[i], destinations[i], values, cellTimeout, parse.GetValue(html));
                AnsiConsole.MarkupLine($"{(run.Succeeded ? "[green]ok[/]" : "[red]failed[/]")} {Markup.Escape(paths[i])} in {run.Elapsed.TotalSeconds:0.0} s");
                runs.Add(run);
            }
            PrintSummary(runs);
            int failed = runs.Count(r => !r.Succeeded);
            if (failed > 0)
                AnsiConsole.MarkupLineInterpolated($"[red]{failed} of {runs.Count} notebook(s) failed.[/]");
            return failed == 0 ? 0 : 1;
        });
        return command;
    }

    private static Command CreateExport()
    {
        var notebook = new Argument<string>("notebook") { Description = "The notebook (.ipynb) to export." };
        var to = new Option<string>("--to") { Description = "What to export to: app (a .NET file-based app, run with `dotnet run FILE.cs`).", Required = true };
        var output = new Option<string?>("--output") { Description = "The file to write (default: the notebook's name with .cs in the current folder)." };
        var command = new Command("export", "Export a notebook as a .NET file-based app.") { notebook, to, output };
        command.SetAction(parse =>
        {
            string path = parse.GetValue(notebook)!;
            if (parse.GetValue(to) != "app")
                throw new ArgumentException($"--to {parse.GetValue(to)} is not supported; the only target is 'app'.");
            if (!File.Exists(path))
                throw new FileNotFoundException($"Notebook '{path}' does not exist.");
            string app = FileBasedApp.FromNotebook(File.ReadAllText(path), path);
            string destination = parse.GetValue(output) ?? Path.ChangeExtension(Path.GetFileName(path), ".cs");
            // Written whole or not at all: a temp file beside the destination, then a rename.
            string temp = destination + ".tmp-" + Environment.ProcessId;
            File.WriteAllText(temp, app);
            File.Move(temp, destination, overwrite: true);
            AnsiConsole.MarkupLineInterpolated($"wrote {destination}; run it with: dotnet run {destination}");
            return 0;
        });
        return command;
    }

    /// <summary>A table of all runs (time, figures drawn), then each failure's error on its own plain lines.</summary>
    private static void PrintSummary(IReadOnlyList<JupyterRun> runs)
    {
        var table = new Table().AddColumns("Notebook", "Time", "Figures drawn", "Result");
        foreach (var run in runs)
            table.AddRow(Markup.Escape(run.Notebook), $"{run.Elapsed.TotalSeconds:0.0} s",
                run.Figures is { } figures ? $"{run.DrawnFigures}/{figures}" : "",
                run.Succeeded ? "[green]ok[/]" : "[red]failed[/]");
        AnsiConsole.Write(table);
        foreach (var run in runs.Where(r => !r.Succeeded))
            Console.Error.WriteLine($"{run.Notebook}: {run.Error}\n(executed copy: {run.Output})");
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
            parameters["quick"] = "1";
        return parameters;
    }
}
