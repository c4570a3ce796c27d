using System.CommandLine;
using LlmFp4.Kit.Cli;
using LlmFp4.Kit.Cli.Commands;

var root = new RootCommand("llmfp4 — floating-point post-training quantization of transformers (LLM-FP4, RPTQ, FPTQ, FP6).")
{
    CliApp.VerboseOption,
};
foreach (var command in CliApp.Commands())
    root.Subcommands.Add(command);

if (Console.IsOutputRedirected) Spectre.Console.AnsiConsole.Console = CliApp.PlainConsole(Console.Out);
return CliApp.Run(root, args);
