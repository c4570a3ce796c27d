using System.Globalization;
using System.Text;
using LlmFp4.Kit.Evaluation;
using LlmFp4.Kit.Plotting;
using LlmFp4.Kit.Reports;

namespace LlmFp4.Kit.Experiments;

/// <summary>The files a report wrote, and why PNG figures were left out (null when they were written).</summary>
public sealed record ReportFiles(IReadOnlyList<string> Paths, string? PngSkipped);

/// <summary>
/// Presents a <see cref="ReproductionResult"/> the way the paper does: rows × tasks (accuracy in %), their average,
/// the held-out perplexity and the next-token KL divergence and top-1 agreement with full precision; for a sentence encoder, verse-retrieval recall@1 (%), recall@10 and MRR, and the mean cosine
/// to the full-precision embeddings. Writes it as <c>results.jsonl</c>, <c>results.csv</c>, <c>results.md</c> and two
/// figures (average accuracy and perplexity per row, or recall@1 and 1 − mean cosine; HTML always, PNG when Chromium is
/// installed).
/// </summary>
public static class ReproductionReport
{
    /// <summary>File name, without extension, of the average-accuracy figure.</summary>
    public const string AccuracyFigure = "reproduce-average-accuracy";
    /// <summary>File name, without extension, of the perplexity figure.</summary>
    public const string PerplexityFigure = "reproduce-perplexity";
    /// <summary>File name, without extension, of an encoder run's recall@1 figure.</summary>
    public const string RetrievalFigure = "reproduce-retrieval";
    /// <summary>File name, without extension, of an encoder run's 1 − mean cosine figure.</summary>
    public const string FidelityFigure = "reproduce-fidelity";

    private static readonly ExtraColumn[] DecoderColumns =
    [
        new("perplexity", TaskRegistry.Perplexity, "perplexity"),
        new("KL to FP", Fidelity.TaskName, "kl_divergence", 4),
        new("top-1 agreement", Fidelity.TaskName, "top1_agreement", 3),
    ];

    private static readonly ExtraColumn[] EncoderColumns =
    [
        new("recall@10", VerseRetrieval.TaskName, "recall@10", 3),
        new("MRR", VerseRetrieval.TaskName, "mrr", 4),
        new("mean cosine to FP", Fidelity.TaskName, "mean_cosine", 4),
    ];

    /// <summary>True when the run scored a sentence encoder (verse retrieval) rather than a language model.</summary>
    public static bool IsEncoderRun(ReproductionResult result) =>
        result?.Results.Any(r => r.Task == VerseRetrieval.TaskName) ?? throw new ArgumentNullException(nameof(result));

    /// <summary>
    /// acc per task, average, perplexity of the held-out text, KL divergence and top-1 agreement with full precision; for an encoder recall@1 (%), recall@10, MRR and the mean
    /// cosine to full precision. One row per configured row, labelled as the paper would.
    /// </summary>
    public static ResultsTable Table(ReproductionResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        // Each row's results carry its own quantization label ("fpq:4/4/4@hash", null for full precision).
        var labels = new Dictionary<string, string>();
        foreach (var row in result.Rows)
            foreach (var r in row.Results)
                labels[r.QuantConfig ?? ""] = row.Label;
        return IsEncoderRun(result)
            ? ResultsTable.FromResults(result.Results, "recall@1", r => labels[r.QuantConfig ?? ""], EncoderColumns, showAverage: false)
            : ResultsTable.FromResults(result.Results, "acc", r => labels[r.QuantConfig ?? ""], DecoderColumns);
    }

    /// <summary>What the run used, in words, with the paper's settings beside it (the header of results.md and of the console output).</summary>
    public static string Settings(ReproductionResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var config = result.Config;
        if (IsEncoderRun(result))
        {
            int pairs = result.Results.First(r => r.Task == VerseRetrieval.TaskName).N;
            return $"Model {result.ModelName}; calibration {config.Calibration.Samples} sentences of at most {config.Calibration.SequenceLength} " +
                $"tokens from the verse task's calibration verses (seed {config.Calibration.Seed}; never the evaluated pairs); " +
                $"{pairs.ToString("N0", CultureInfo.InvariantCulture)} KJV → WEB verse pairs, each KJV verse retrieving its WEB translation among all " +
                $"{pairs.ToString("N0", CultureInfo.InvariantCulture)}; fidelity: mean cosine to the full-precision embeddings of the same " +
                $"{(2 * pairs).ToString("N0", CultureInfo.InvariantCulture)} texts." + (config.Quick ? " Quick run: smaller settings than the full reproduction." : "");
        }
        string examples = config.Limit is int limit ? $"the first {limit} examples of each stand-in task" : "every example of the stand-in tasks";
        string perplexity = config.PerplexityTokens is int tokens ? $"its first {tokens.ToString("N0", CultureInfo.InvariantCulture)} tokens" : "all of it";
        return $"Model {result.ModelName}; calibration {config.Calibration.Samples} × {config.Calibration.SequenceLength} tokens of the " +
            $"training split (seed {config.Calibration.Seed}; the paper: 32 × 2048, its code 32 × 1024); {examples}; " +
            $"perplexity on the held-out split, {perplexity}." + (config.Quick ? " Quick run: smaller settings than the full reproduction." : "");
    }

    /// <summary>
    /// Writes results.jsonl, results.csv and results.md into <paramref name="directory"/> and the figures into
    /// <paramref name="directory"/>/figures as HTML, with PNG copies when <paramref name="png"/> and Chromium and plotly.js
    /// are present. If <paramref name="figuresDirectory"/> is given (the repository's figures/), the figures go there too,
    /// as PNG only when it can be made: a self-contained HTML figure carries all of plotly.js (about 5 MB).
    /// </summary>
    public static ReportFiles Write(ReproductionResult result, string directory, string? figuresDirectory = null, bool png = true)
    {
        ArgumentNullException.ThrowIfNull(result);
        var written = new List<string>();
        string jsonl = Path.Combine(directory, "results.jsonl"), csv = Path.Combine(directory, "results.csv"), markdown = Path.Combine(directory, "results.md");
        EvalResultFiles.WriteJsonLines(jsonl, result.Results);
        EvalResultFiles.WriteCsv(csv, result.Results);
        AtomicFile.WriteText(markdown, writer => writer.Write(Markdown(result)));
        written.AddRange([jsonl, csv, markdown]);

        string? pngSkipped = png ? FigureExport.PngUnavailableReason : "not asked for";
        foreach (var (name, figure) in Figures(result))
        {
            string html = Path.Combine(directory, "figures", name + ".html");
            FigureExport.SaveHtml(figure, html);
            written.Add(html);
            foreach (string folder in new[] { Path.Combine(directory, "figures"), figuresDirectory }.OfType<string>())
                if (pngSkipped is null)
                {
                    string pngPath = Path.Combine(folder, name + ".png");
                    FigureExport.SavePng(figure, pngPath);
                    written.Add(pngPath);
                }
                else if (folder == figuresDirectory)
                {
                    string fallback = Path.Combine(folder, name + ".html");
                    FigureExport.SaveHtml(figure, fallback);
                    written.Add(fallback);
                }
        }
        return new ReportFiles(written, pngSkipped);
    }

    /// <summary>The Markdown report: settings, the table, and per row whether it was calibrated, loaded or reused.</summary>
    public static string Markdown(ReproductionResult result)
    {
        var md = new StringBuilder();
        md.Append("# LLM-FP4 Table 1 on ").Append(result.ModelName).Append("\n\n");
        md.Append(Settings(result)).Append("\n\n");
        md.Append(Table(result).ToMarkdown()).Append('\n');
        if (IsEncoderRun(result))
            md.Append("recall@1 in %; recall@10 and MRR as fractions; mean cosine between each text's quantized and full-precision ")
                .Append("embeddings. Bits are E/W/A (embedding/weights/activations), 16 = full precision.\n\n");
        else
            md.Append("Accuracy in %, average over the stand-in tasks (not the paper's benchmarks, not comparable with its numbers); ")
                .Append("perplexity of the held-out split; KL divergence (nats per token) and top-1 agreement of the next-token ")
                .Append("distributions with full precision on its first tokens. Bits are E/W/A (embedding/weights/activations), 16 = full precision.\n\n");
        md.Append("| row | config hash | calibration | calibration s | evaluation s |\n|---|---|---|---:|---:|\n");
        foreach (var row in result.Rows)
            md.Append("| ").Append(row.Label).Append(" | ").Append(row.Config?.Hash ?? "—").Append(" | ")
                .Append(row.Config is null ? "—" : row.Reused ? "row reused" : row.CalibrationReused ? "loaded" : "ran").Append(" | ")
                .Append(row.CalibrationSeconds.ToString("F1", CultureInfo.InvariantCulture)).Append(" | ")
                .Append(row.EvaluationSeconds.ToString("F1", CultureInfo.InvariantCulture)).Append(" |\n");
        return md.ToString();
    }

    /// <summary>
    /// Bar charts of the average accuracy and of the perplexity per row, or for an encoder of recall@1 and of 1 − mean cosine
    /// (log scale); rows without the value are left out.
    /// </summary>
    public static IReadOnlyList<(string Name, Figure Figure)> Figures(ReproductionResult result)
    {
        var table = Table(result);
        var figures = new List<(string, Figure)>();
        if (IsEncoderRun(result))
        {
            var recalled = table.Rows.Where(r => r.Cells[0] is not null).ToList();
            figures.Add((RetrievalFigure, new Figure()
                .Add(Trace.Bar(recalled.Select(r => r.Setting).ToArray(), recalled.Select(r => 100 * r.Cells[0]!.Value.Value).ToArray(), "recall@1"))
                .WithTitle($"{result.ModelName}: verse retrieval recall@1").WithYAxis("recall@1 (%)").WithSize(1000, 520)));
            // Full precision has distance 0, which a log axis cannot show.
            var distant = table.Rows.Where(r => r.Extra[^1] is { Value: < 1 }).ToList();
            if (distant.Count > 0)
                figures.Add((FidelityFigure, new Figure()
                    .Add(Trace.Bar(distant.Select(r => r.Setting).ToArray(), distant.Select(r => 1 - r.Extra[^1]!.Value.Value).ToArray(), "1 − mean cosine"))
                    .WithTitle($"{result.ModelName}: distance to the full-precision embeddings (log scale)")
                    .WithYAxis("1 − mean cosine", log: true).WithSize(1000, 520)));
            return figures;
        }
        var averaged = table.Rows.Where(r => r.Average is not null).ToList();
        if (averaged.Count > 0)
            figures.Add((AccuracyFigure, new Figure()
                .Add(Trace.Bar(averaged.Select(r => r.Setting).ToArray(), averaged.Select(r => 100 * r.Average!.Value).ToArray(), "average acc"))
                .WithTitle($"{result.ModelName}: average accuracy over the stand-in tasks")
                .WithYAxis("average acc (%)").WithSize(1000, 520)));
        var withPerplexity = table.Rows.Where(r => r.Extra.Count > 0 && r.Extra[0] is not null).ToList();
        if (withPerplexity.Count > 0)
            figures.Add((PerplexityFigure, new Figure()
                .Add(Trace.Bar(withPerplexity.Select(r => r.Setting).ToArray(), withPerplexity.Select(r => r.Extra[0]!.Value.Value).ToArray(), "perplexity"))
                .WithTitle($"{result.ModelName}: perplexity of the held-out split (log scale)")
                .WithYAxis("perplexity", log: true).WithSize(1000, 520)));
        return figures;
    }
}
