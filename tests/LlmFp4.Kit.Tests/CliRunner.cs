using System.CommandLine;
using LlmFp4.Kit.Cli;
using Spectre.Console;

namespace LlmFp4.Kit.Tests;

/// <summary>
/// Runs the whole `llmfp4` command line through CliApp with Console and AnsiConsole redirected to one string.
/// Console.Out and AnsiConsole.Console are process-wide, so every test that runs a verb (through this runner or
/// CliApp.Run) belongs to <see cref="ProcessWideStateCollection"/>, which runs alone: output of a verb run in a
/// parallel test would otherwise land in this capture.
/// </summary>
internal static class CliRunner
{
    public static (int ExitCode, string Output) Run(params string[] args)
    {
        var root = new RootCommand("llmfp4") { CliApp.VerboseOption };
        foreach (var command in CliApp.Commands())
            root.Subcommands.Add(command);
        var writer = new StringWriter();
        var previousOut = Console.Out;
        var previousConsole = AnsiConsole.Console;
        try
        {
            Console.SetOut(writer);
            // The console of a redirected run: no message is wrapped, so tests can count lines.
            AnsiConsole.Console = CliApp.PlainConsole(writer);
            int exitCode = CliApp.Run(root, args);
            return (exitCode, writer.ToString());
        }
        finally
        {
            Console.SetOut(previousOut);
            AnsiConsole.Console = previousConsole;
        }
    }
}
