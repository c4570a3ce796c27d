using System.CommandLine;

namespace LlmFp4.Kit.Cli.Commands;

/// <summary>`llmfp4 formats`: list the number-format presets, or show one format's table.</summary>
public static class FormatsCommand
{
    public static Command Create()
    {
        var command = new Command("formats", "List the number-format presets.");
        command.SetAction(_ => { Console.WriteLine("(formats not implemented yet)"); return 0; });
        return command;
    }
}
