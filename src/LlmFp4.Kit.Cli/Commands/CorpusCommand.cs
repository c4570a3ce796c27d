using System.CommandLine;
using System.Diagnostics;
using LlmFp4.Kit.Data;
using Spectre.Console;

namespace LlmFp4.Kit.Cli.Commands;

/// <summary>`llmfp4 corpus`: rebuild data/corpus from the registry packages fetched by data/corpus/fetch-sources.sh.</summary>
public static class CorpusCommand
{
    public static Command Create()
    {
        var packages = new Option<DirectoryInfo>("--packages")
        {
            Description = "Folder prepared by data/corpus/fetch-sources.sh (.deb/.tgz files, .debs unpacked under root/).",
            Required = true,
        };
        var output = new Option<DirectoryInfo>("--out")
        {
            Description = "Output folder for train/validation/test.txt and the provenance files.",
            DefaultValueFactory = _ => new DirectoryInfo("data/corpus"),
        };
        var seed = new Option<int>("--seed")
        {
            Description = "Seed of the document split.",
            DefaultValueFactory = _ => new CorpusSplitSettings().Seed,
        };
        var command = new Command("corpus", "Build the public-domain corpus splits from registry packages.") { packages, output, seed };
        command.SetAction(parse =>
        {
            var watch = Stopwatch.StartNew();
            var manifest = CorpusBuilder.Build(parse.GetValue(packages)!.FullName, parse.GetValue(output)!.FullName,
                new CorpusSplitSettings(Seed: parse.GetValue(seed)),
                new SynchronousProgress<string>(step => AnsiConsole.MarkupLineInterpolated($"[grey]{step}…[/]")));
            var table = new Table().AddColumns("split", "documents", "bytes", "sha256");
            foreach (var s in manifest.Splits)
                table.AddRow(s.Split, s.Documents.ToString(), s.Bytes.ToString("N0"), s.Sha256[..16] + "…");
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLineInterpolated($"written to {parse.GetValue(output)!.FullName} in {watch.Elapsed.TotalSeconds:F1} s");
            return 0;
        });
        return command;
    }
}
