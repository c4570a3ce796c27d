using System.CommandLine;
using System.Globalization;
using LlmFp4.Kit.Evaluation;
using Spectre.Console;

namespace LlmFp4.Kit.Cli.Commands;

/// <summary>`llmfp4 retrieval`: a sentence encoder on the KJV ↔ WEB verse-retrieval task (recall@1, recall@10, MRR).</summary>
public static class RetrievalCommand
{
    public static Command Create()
    {
        var model = EmbedCommand.ModelOption();
        var task = new Option<string?>("--task") { Description = "Pairs file (default: data/tasks/verse-retrieval/pairs.jsonl, found upwards from here)." };
        var limit = new Option<int?>("--limit") { Description = "Use only the first N pairs (candidates are then those N WEB verses)." };
        var output = new Option<string>("--out")
        {
            Description = "Results as JSON lines; a CSV is written beside it.",
            DefaultValueFactory = _ => Path.Combine("results", "retrieval", "results.jsonl"),
        };

        var quant = EmbedCommand.QuantOption();

        var command = new Command("retrieval", "Evaluate a sentence encoder on the KJV ↔ World English Bible verse-retrieval task.");
        foreach (var option in new Option[] { model, task, limit, output, quant })
            command.Options.Add(option);
        command.SetAction(parse =>
        {
            string path = parse.GetValue(task)
                ?? Path.Combine(TaskRegistry.FindDataDirectory("tasks"), "tasks", VerseRetrieval.TaskName, VerseRetrieval.PairsFile);
            var pairs = VerseRetrieval.Read(path);
            if (pairs.Skipped.Count > 0)
                AnsiConsole.MarkupLineInterpolated($"[yellow]warning:[/] {path}: skipped {pairs.Skipped.Count} record(s); first: {pairs.Skipped[0]}");
            if (parse.GetValue(limit) is < 2)
                throw new ArgumentException("--limit must be at least 2 (one answer and one other candidate).");
            var (name, encoder, quantLabel) = EmbedCommand.Load(parse.GetValue(model)!, parse.GetValue(quant));
            var info = new EvalRunInfo(name, quantLabel, Limit: parse.GetValue(limit));
            var results = VerseRetrieval.Evaluate(texts => EmbedCommand.Encode(encoder, texts.Select(encoder.Tokenize).ToArray()), pairs.Items, info);

            string jsonl = parse.GetValue(output)!;
            EvalResultFiles.WriteJsonLines(jsonl, results);
            EvalResultFiles.WriteCsv(Path.ChangeExtension(jsonl, ".csv"), results);
            var table = new Table().AddColumns("task", "metric").AddColumn(new TableColumn("value").RightAligned())
                .AddColumn(new TableColumn("± stderr").RightAligned()).AddColumn(new TableColumn("n").RightAligned())
                .AddColumn(new TableColumn("seconds").RightAligned());
            foreach (var r in results)
                table.AddRow(r.Task, r.Metric, r.Value.ToString("F4", CultureInfo.InvariantCulture), r.Stderr?.ToString("F4", CultureInfo.InvariantCulture) ?? "—",
                    r.N.ToString(CultureInfo.InvariantCulture), r.WallTimeSeconds.ToString("F1", CultureInfo.InvariantCulture));
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLineInterpolated($"Results: {jsonl} and {Path.ChangeExtension(jsonl, ".csv")}");
            return 0;
        });
        return command;
    }
}
