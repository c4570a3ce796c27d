using System.CommandLine;
using LlmFp4.Kit.Cli.Commands;
using Spectre.Console;

namespace LlmFp4.Kit.Cli;

/// <summary>Wiring shared by every verb: the verb list, the global --verbose flag and error reporting.</summary>
public static class CliApp
{
    public static readonly Option<bool> VerboseOption = new("--verbose")
    {
        Description = "Show stack traces on errors.",
        Recursive = true,
    };

    /// <summary>Every verb of the command line, in the order `--help` lists them.</summary>
    public static IEnumerable<Command> Commands()
    {
        yield return InfoCommand.Create();
        yield return GenerateCommand.Create();
        yield return LogprobsCommand.Create();
        yield return ModelsCommand.Create();
        yield return EmbedCommand.Create();
        yield return RetrievalCommand.Create();
        yield return FormatsCommand.Create();
        yield return CorpusCommand.Create();
        yield return TokenizerCommand.Create();
        yield return NotebooksCommand.Create();
        yield return EvalCommand.Create();
        yield return TasksCommand.Create();
        yield return TrainCommand.Create();
        yield return ModelCardCommand.Create();
        yield return CalibrateCommand.Create();
        yield return ReproduceCommand.Create();
    }

    /// <summary>
    /// A console that writes plain text to <paramref name="writer"/>: no colour codes, no live displays, and lines as long
    /// as their content instead of Spectre's 80 columns for output that is not a terminal, which split table cells and
    /// numbers across lines. The command line uses it when its output goes to a file or a pipe, as long runs are logged.
    /// </summary>
    public static IAnsiConsole PlainConsole(TextWriter writer)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        console.Profile.Width = 10_000;
        return console;
    }

    /// <summary>
    /// Runs the parsed command; a user error (bad path, bad preset, bad file) becomes one red line and exit
    /// code 1 instead of a stack trace, unless --verbose is given.
    /// </summary>
    public static int Run(RootCommand root, string[] args)
    {
        var parse = root.Parse(args);
        try
        {
            // Without this, System.CommandLine prints its own "Unhandled exception" stack trace and the catch below never runs.
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            var inner = ex is AggregateException { InnerExceptions.Count: 1 } agg ? agg.InnerExceptions[0] : ex;
            if (parse.GetValue(VerboseOption))
                AnsiConsole.WriteException(inner);
            else
                AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {inner.Message}");
            return 1;
        }
    }
}
