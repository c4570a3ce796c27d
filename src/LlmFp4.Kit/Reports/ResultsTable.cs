using System.Globalization;
using System.Text;
using LlmFp4.Kit.Evaluation;
using Spectre.Console;

namespace LlmFp4.Kit.Reports;

/// <summary>One cell of a <see cref="ResultsTable"/>.</summary>
public readonly record struct ResultCell(double Value, double? Stderr);

/// <summary>One row of a <see cref="ResultsTable"/>: a model/quantization setting, its value per task and its <see cref="ResultsTable.ExtraColumns"/>.</summary>
public sealed record ResultsRow(string Setting, IReadOnlyList<ResultCell?> Cells, double? Average)
{
    /// <summary>The row's values of the <see cref="ResultsTable.ExtraColumns"/>, in column order; null where a value is missing.</summary>
    public IReadOnlyList<ResultCell?> Extra { get; init; } = [];
}

/// <summary>A column after the average showing one task's metric as it is, e.g. <c>("ppl", "perplexity", "perplexity")</c>, with <paramref name="Decimals"/> decimals.</summary>
public sealed record ExtraColumn(string Header, string Task, string Metric, int Decimals = 2);

/// <summary>
/// The paper's table layout: one row per (model, quantization) setting, one column per task, the average
/// over tasks last (unless left out). Accuracy-like metrics (<c>acc</c>, <c>acc_norm</c>, <c>recall@k</c>) are shown in
/// percent with one decimal, others as they are. Stand-in tasks carry their "(stand-in)" label in the header.
/// Renders to the console (Spectre.Console), Markdown and HTML.
/// </summary>
public sealed class ResultsTable : IHtmlRenderable
{
    ResultsTable(string metric, IReadOnlyList<string> tasks, IReadOnlyList<ResultsRow> rows, IReadOnlyList<ExtraColumn> extraColumns, bool showAverage)
    {
        Metric = metric;
        Tasks = tasks;
        Rows = rows;
        ExtraColumns = extraColumns;
        ShowAverage = showAverage;
    }

    /// <summary>The metric the task columns show (e.g. <c>acc</c>, <c>acc_norm</c>); accuracy-like metrics are shown in percent.</summary>
    public string Metric { get; }

    /// <summary>Task names, in the order they first appear in the results.</summary>
    public IReadOnlyList<string> Tasks { get; }

    /// <summary>Settings, in the order they first appear; the average is null unless the row has every task.</summary>
    public IReadOnlyList<ResultsRow> Rows { get; }

    /// <summary>Columns shown after the average (not averaged), each with its own decimals.</summary>
    public IReadOnlyList<ExtraColumn> ExtraColumns { get; }

    /// <summary>Whether the average column is shown (it is still computed).</summary>
    public bool ShowAverage { get; }

    /// <summary>Headers of the task columns, stand-ins labelled.</summary>
    public IReadOnlyList<string> TaskHeaders => [.. Tasks.Select(StandInTasks.DisplayName)];

    /// <summary>
    /// Builds the table for <paramref name="metric"/> from <paramref name="results"/> (results for other metrics
    /// are ignored; of repeated results for one cell the last wins). <paramref name="settingLabel"/> names a row;
    /// by default the model, then the quantization config or "full precision". <paramref name="extraColumns"/> follow
    /// the average (e.g. the perplexity of the held-out text); <paramref name="showAverage"/> false leaves the average
    /// column out (a table of one task).
    /// </summary>
    public static ResultsTable FromResults(IEnumerable<EvalResult> results, string metric = "acc", Func<EvalResult, string>? settingLabel = null,
        IReadOnlyList<ExtraColumn>? extraColumns = null, bool showAverage = true)
    {
        settingLabel ??= r => $"{r.Model} · {r.QuantConfig ?? "full precision"}";
        extraColumns ??= [];
        var tasks = new List<string>();
        var settings = new List<string>();
        var cells = new Dictionary<(string Setting, string Task), ResultCell>();
        var extraCells = new Dictionary<(string Setting, ExtraColumn Column), ResultCell>();
        foreach (var result in results)
        {
            var extra = extraColumns.Where(c => c.Task == result.Task && c.Metric == result.Metric).ToList();
            if (result.Metric != metric && extra.Count == 0)
                continue;
            string setting = settingLabel(result);
            if (!settings.Contains(setting))
                settings.Add(setting);
            foreach (var column in extra)
                extraCells[(setting, column)] = new ResultCell(result.Value, result.Stderr);
            if (result.Metric != metric)
                continue;
            if (!tasks.Contains(result.Task))
                tasks.Add(result.Task);
            cells[(setting, result.Task)] = new ResultCell(result.Value, result.Stderr);
        }

        var rows = settings.Select(setting =>
        {
            var row = tasks.Select(task => cells.TryGetValue((setting, task), out var cell) ? cell : (ResultCell?)null).ToList();
            double? average = row.Count > 0 && row.All(c => c is not null) ? row.Average(c => c!.Value.Value) : null;
            var extra = extraColumns.Select(column => extraCells.TryGetValue((setting, column), out var cell) ? cell : (ResultCell?)null).ToList();
            return new ResultsRow(setting, row, average) { Extra = extra };
        }).ToList();
        return new ResultsTable(metric, tasks, rows, extraColumns, showAverage);
    }

    /// <summary>A cell as text: "66.3" for accuracies (percent), "12.34" otherwise, "—" when missing.</summary>
    public string Format(ResultCell? cell, bool withStderr = false)
    {
        if (cell is not ResultCell c)
            return "—";
        string value = FormatNumber(c.Value);
        return withStderr && c.Stderr is double s ? $"{value} ± {FormatNumber(s)}" : value;
    }

    /// <summary>The row's average over tasks, formatted like the task cells; "—" when there is none.</summary>
    public string FormatAverage(ResultsRow row) => row.Average is double a ? FormatNumber(a) : "—";

    /// <summary>An extra column's cell with <paramref name="decimals"/> decimals, "—" when missing.</summary>
    public static string FormatExtra(ResultCell? cell, int decimals = 2) =>
        cell is ResultCell c ? c.Value.ToString("F" + decimals, CultureInfo.InvariantCulture) : "—";

    bool IsAccuracy => Metric.StartsWith("acc", StringComparison.Ordinal) || Metric.StartsWith("recall@", StringComparison.Ordinal);

    /// <summary>A row's extra cells, each formatted with its column's decimals.</summary>
    IEnumerable<string> Extras(ResultsRow row) => row.Extra.Select((cell, i) => FormatExtra(cell, ExtraColumns[i].Decimals));

    /// <summary>The average cell, or nothing when the column is left out.</summary>
    IEnumerable<string> AverageCell(ResultsRow row) => ShowAverage ? [FormatAverage(row)] : [];

    string FormatNumber(double value) =>
        IsAccuracy ? (100 * value).ToString("F1", CultureInfo.InvariantCulture) : value.ToString("F2", CultureInfo.InvariantCulture);

    string Caption => IsAccuracy ? $"{Metric} (%)" : Metric;

    /// <summary>The table for the console, optionally with "± stderr" in each task cell.</summary>
    public Table ToSpectreTable(bool withStderr = false)
    {
        var table = new Table().Title(Markup.Escape(Caption));
        table.AddColumn("setting");
        foreach (string header in TaskHeaders)
            table.AddColumn(new TableColumn(Markup.Escape(header)).RightAligned());
        if (ShowAverage) table.AddColumn(new TableColumn("average").RightAligned());
        foreach (var column in ExtraColumns)
            table.AddColumn(new TableColumn(Markup.Escape(column.Header)).RightAligned());
        foreach (var row in Rows)
            table.AddRow([Markup.Escape(row.Setting), .. row.Cells.Select(c => Markup.Escape(Format(c, withStderr))), .. AverageCell(row), .. Extras(row)]);
        return table;
    }

    /// <summary>The table as GitHub Markdown, optionally with "± stderr" in each task cell.</summary>
    public string ToMarkdown(bool withStderr = false)
    {
        var md = new StringBuilder();
        string[] headers = ["setting", .. TaskHeaders, .. ShowAverage ? ["average"] : Array.Empty<string>(), .. ExtraColumns.Select(c => c.Header)];
        md.Append("| ").AppendJoin(" | ", headers.Select(EscapeMarkdown)).Append(" |\n");
        md.Append("|---|").Append(string.Concat(Enumerable.Repeat("---:|", headers.Length - 1))).Append('\n');
        foreach (var row in Rows)
            md.Append("| ").AppendJoin(" | ", [EscapeMarkdown(row.Setting), .. row.Cells.Select(c => Format(c, withStderr)), .. AverageCell(row), .. Extras(row)])
                .Append(" |\n");
        return md.ToString();
    }

    /// <summary>A self-contained HTML table (inline styles only), for notebooks and exported reports.</summary>
    string IHtmlRenderable.ToHtml() => ToHtml();

    /// <summary>The table as an HTML fragment, optionally with "± stderr" in each task cell.</summary>
    public string ToHtml(bool withStderr = false) =>
        HtmlTable.Render(["setting", .. TaskHeaders, .. ShowAverage ? ["average"] : Array.Empty<string>(), .. ExtraColumns.Select(c => c.Header)],
            Rows.Select(row => (IReadOnlyList<string>)[row.Setting, .. row.Cells.Select(c => Format(c, withStderr)), .. AverageCell(row), .. Extras(row)]),
            Caption);

    static string EscapeMarkdown(string text) => text.Replace("|", "\\|");
}
