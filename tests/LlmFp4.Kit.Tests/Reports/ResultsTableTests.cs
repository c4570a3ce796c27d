using LlmFp4.Kit.Evaluation;
using LlmFp4.Kit.Reports;
using Spectre.Console;

namespace LlmFp4.Kit.Tests.Reports;

public class ResultsTableTests
{
    static EvalResult Result(string quant, string task, string metric, double value) =>
        new("llama", quant == "" ? null : quant, task, metric, value, 0.01, 100, 0, 1, "0.1.0");

    static readonly EvalResult[] Results =
    [
        Result("", "continuation", "acc", 0.60),
        Result("", "piqa", "acc", 0.70),
        Result("", "piqa", "acc_norm", 0.99),
        Result("W4A4", "continuation", "acc", 0.40),
    ];

    [Fact]
    public void TasksAreColumnsWithTheAverageLast()
    {
        var table = ResultsTable.FromResults(Results);

        Assert.Equal(["continuation", "piqa"], table.Tasks);
        Assert.Equal(["llama · full precision", "llama · W4A4"], table.Rows.Select(r => r.Setting));
        Assert.Equal(0.65, table.Rows[0].Average!.Value, 12);
        Assert.Null(table.Rows[1].Average);
    }

    [Fact]
    public void MarkdownShowsPercentagesAndLabelsStandIns()
    {
        Assert.Equal(
            "| setting | continuation (stand-in) | piqa | average |\n" +
            "|---|---:|---:|---:|\n" +
            "| llama · full precision | 60.0 | 70.0 | 65.0 |\n" +
            "| llama · W4A4 | 40.0 | — | — |\n",
            ResultsTable.FromResults(Results).ToMarkdown());
    }

    [Fact]
    public void HtmlIsEscapedAndLabelled()
    {
        var html = ResultsTable.FromResults([Result("<b>", "continuation", "acc", 0.5)]).ToHtml(withStderr: true);

        Assert.StartsWith("<table", html);
        Assert.Contains("continuation (stand-in)", html);
        Assert.Contains("&lt;b&gt;", html);
        Assert.Contains("50.0 ± 1.0", html);
    }

    [Fact]
    public void ConsoleTableHasOneColumnPerTaskPlusSettingAndAverage()
    {
        var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Out = new AnsiConsoleOutput(output),
        });
        console.Profile.Width = 200;
        var table = ResultsTable.FromResults(Results).ToSpectreTable();

        console.Write(table);

        Assert.Equal(4, table.Columns.Count);
        Assert.Contains("continuation (stand-in)", output.ToString());
        Assert.Contains("65.0", output.ToString());
    }

    [Fact]
    public void OtherMetricsAreShownAsTheyAre()
    {
        var table = ResultsTable.FromResults([Result("", "lastword", "perplexity", 12.345)], metric: "perplexity");
        Assert.Contains("| 12.35 |", table.ToMarkdown());
    }
}
