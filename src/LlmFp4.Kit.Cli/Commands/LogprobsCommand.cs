using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;

namespace LlmFp4.Kit.Cli.Commands;

/// <summary>`llmfp4 logprobs`: the log-probability a model gives each actual next token, mean NLL and perplexity.</summary>
public static class LogprobsCommand
{
    public static Command Create()
    {
        var model = new RunModelOptions();
        var text = new Option<string?>("--text") { Description = "Text to score, tokenized with the tokenizer's special tokens (a LLaMA tokenizer's BOS first)." };
        var tokenIds = new Option<string?>("--token-ids") { Description = "Token ids to score, comma-separated (e.g. 1,2,3)." };
        var json = new Option<bool>("--json") { Description = "Print one JSON document instead of a table." };

        var command = new Command("logprobs", "Log-probability of each next token of a text or id list, mean NLL and perplexity.");
        model.AddTo(command);
        foreach (var option in new Option[] { text, tokenIds, json })
            command.Options.Add(option);
        command.SetAction(parse =>
        {
            string? textValue = parse.GetValue(text), idsValue = parse.GetValue(tokenIds);
            if ((textValue is null) == (idsValue is null))
                throw new ArgumentException("logprobs: give exactly one of --text and --token-ids.");
            var loaded = model.Load(parse);

            int[] ids = textValue is not null ? loaded.Tokenizer.Encode(textValue, addSpecialTokens: true) : ParseIds(idsValue!);
            if (ids.Length < 2)
                throw new ArgumentException($"logprobs: {ids.Length} token(s); scoring needs at least two.");
            float[] logProbs = loaded.Model.TokenLogProbs([ids])[0];
            double meanNll = -logProbs.Average(lp => (double)lp);
            var rows = logProbs.Select((lp, i) => new PositionLogProb(i + 1, ids[i + 1], loaded.Tokenizer.Decode([ids[i + 1]]), lp)).ToList();

            if (parse.GetValue(json))
                Console.Out.WriteLine(JsonSerializer.Serialize(
                    new LogprobsReport(loaded.Name, ids, rows, meanNll, Math.Exp(meanNll)), JsonOptions));
            else
            {
                var table = new Table().AddColumn(new TableColumn("position").RightAligned()).AddColumn(new TableColumn("id").RightAligned())
                    .AddColumn("token").AddColumn(new TableColumn("log p").RightAligned());
                foreach (var row in rows)
                    table.AddRow(row.Position.ToString(CultureInfo.InvariantCulture), row.Id.ToString(CultureInfo.InvariantCulture),
                        Markup.Escape(JsonSerializer.Serialize(row.Token)), row.LogProb.ToString("F4", CultureInfo.InvariantCulture));
                AnsiConsole.Write(table);
                AnsiConsole.MarkupLineInterpolated(
                    $"{rows.Count} predicted tokens: mean NLL {meanNll.ToString("F4", CultureInfo.InvariantCulture)} nats, perplexity {Math.Exp(meanNll).ToString("F3", CultureInfo.InvariantCulture)}");
            }
            return 0;
        });
        return command;
    }

    private sealed record PositionLogProb(int Position, int Id, string Token, float LogProb);

    private sealed record LogprobsReport(string Model, int[] TokenIds, IReadOnlyList<PositionLogProb> Positions, double MeanNll, double Perplexity);

    private static readonly JsonSerializerOptions JsonOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };

    private static int[] ParseIds(string list) =>
        list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(item => int.TryParse(item, NumberStyles.Integer, CultureInfo.InvariantCulture, out int id) && id >= 0
                ? id
                : throw new ArgumentException($"--token-ids: '{item}' is not a token id (a non-negative integer)."))
            .ToArray();
}
