using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using LlmFp4.Kit.Models.Bert;
using Spectre.Console;

namespace LlmFp4.Kit.Cli.Commands;

/// <summary>`llmfp4 embed`: the token ids and sentence embedding of each text, from a BERT sentence encoder.</summary>
public static class EmbedCommand
{
    public static Command Create()
    {
        var model = ModelOption();
        var text = new Option<string?>("--text") { Description = "One text to embed." };
        var file = new Option<string?>("--file") { Description = "A UTF-8 file: every non-empty line is a text." };
        var json = new Option<bool>("--json") { Description = "Print one JSON document with the full embeddings instead of a table." };
        var quant = QuantOption();

        var command = new Command("embed", "Token ids and sentence embedding of each text (BERT encoder, sentence-transformers pooling).");
        foreach (var option in new Option[] { model, text, file, json, quant })
            command.Options.Add(option);
        command.SetAction(parse =>
        {
            string? textValue = parse.GetValue(text), fileValue = parse.GetValue(file);
            if ((textValue is null) == (fileValue is null))
                throw new ArgumentException("embed: give exactly one of --text and --file.");
            var texts = textValue is not null ? [textValue]
                : File.Exists(fileValue) ? File.ReadAllLines(fileValue!).Where(line => line.Trim().Length > 0).ToList()
                : throw new FileNotFoundException($"--file {fileValue}: no such file.", fileValue);
            var (name, encoder, _) = Load(parse.GetValue(model)!, parse.GetValue(quant));
            int[][] ids = texts.Select(encoder.Tokenize).ToArray();
            float[][] embeddings = Encode(encoder, ids);

            if (parse.GetValue(json))
            {
                var report = new EmbedReport(name, encoder.Pooling.Mode.ToString().ToLowerInvariant(), encoder.Pooling.Normalize, encoder.MaxLength,
                    texts.Select((t, i) => new EmbeddedText(t, ids[i], embeddings[i])).ToList());
                Console.Out.WriteLine(JsonSerializer.Serialize(report, JsonOptions));
                return 0;
            }
            var table = new Table().AddColumn("text").AddColumn(new TableColumn("tokens").RightAligned()).AddColumn("embedding (first 6 of " + encoder.Dimension + ")")
                .AddColumn(new TableColumn("norm").RightAligned());
            for (int i = 0; i < texts.Count; i++)
                table.AddRow(Markup.Escape(texts[i].Length > 60 ? texts[i][..57] + "..." : texts[i]), ids[i].Length.ToString(CultureInfo.InvariantCulture),
                    string.Join(" ", embeddings[i].Take(6).Select(v => v.ToString("+0.0000;-0.0000", CultureInfo.InvariantCulture))),
                    Math.Sqrt(embeddings[i].Sum(v => (double)v * v)).ToString("F4", CultureInfo.InvariantCulture));
            AnsiConsole.Write(table);
            if (texts.Count == 1)
                AnsiConsole.MarkupLineInterpolated($"token ids: {string.Join(",", ids[0])}");
            return 0;
        });
        return command;
    }

    /// <summary>The --model option of the encoder verbs: a folder, or a pretrained encoder's name (imported on first use).</summary>
    public static Option<string> ModelOption() => new("--model")
    {
        Description = $"Encoder folder (Hugging Face BERT + tokenizer.json), or {string.Join(" / ", PretrainedEncoders.All.Select(e => e.Key))} (imported on first use).",
        Required = true,
    };

    /// <summary>The --quant option of the encoder verbs.</summary>
    public static Option<string?> QuantOption() => new("--quant")
    {
        Description = "Quantize first: a `llmfp4 calibrate` result folder, or a preset / JSON config (calibrated on the verse task's calibration sentences and saved under results/calibration on first use).",
    };

    /// <summary>
    /// The encoder a --model value names, with the name results are filed under, quantized with <paramref name="quant"/>
    /// when given (<see cref="ModelFiles.Quantize(SentenceEncoder, string, string)"/>); QuantLabel is then "name@hash".
    /// </summary>
    public static (string Name, SentenceEncoder Encoder, string? QuantLabel) Load(string model, string? quant)
    {
        string folder = PretrainedEncoders.Resolve(model, line => AnsiConsole.MarkupLineInterpolated($"[grey]{line}[/]"));
        var encoder = SentenceEncoder.Load(folder);
        string? label = quant is null ? null : ModelFiles.Quantize(encoder, quant, folder);
        return (Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder))), encoder, label);
    }

    /// <summary>Encodes with a progress bar when there is enough to wait for.</summary>
    public static float[][] Encode(SentenceEncoder encoder, IReadOnlyList<int[]> ids, string description = "embedding")
    {
        if (ids.Count < 64) return encoder.EncodeTokens(ids);
        float[][] embeddings = [];
        AnsiConsole.Progress().AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var bar = context.AddTask(description, maxValue: ids.Count);
                embeddings = encoder.EncodeTokens(ids, new SynchronousProgress<int>(done => bar.Value = done));
            });
        return embeddings;
    }

    private sealed record EmbeddedText(string Text, int[] TokenIds, float[] Embedding);

    private sealed record EmbedReport(string Model, string Pooling, bool Normalized, int MaxLength, IReadOnlyList<EmbeddedText> Texts);

    private static readonly JsonSerializerOptions JsonOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };
}
