using System.Globalization;
using System.Text;
using LlmFp4.Kit.Reports;

namespace LlmFp4.Kit.Analysis;

/// <summary>
/// One row per measured input: tokens × channels, max|x| of the tensor and of the median channel, their ratio,
/// outlier channels, the inter-/intra-channel variance of |x| and the inter-channel share (see
/// <see cref="ChannelStatistics"/>). Renders as an HTML table in notebooks and as Markdown for reports.
/// </summary>
public sealed class ActivationReport(IReadOnlyList<ChannelStatistics> statistics, double outlierFactor = ChannelStatistics.DefaultOutlierFactor)
    : IHtmlRenderable
{
    /// <summary>The per-input statistics, one table row each.</summary>
    public IReadOnlyList<ChannelStatistics> Statistics { get; } = statistics ?? throw new ArgumentNullException(nameof(statistics));
    /// <summary>A channel counts as an outlier when its max|x| exceeds this many times the median channel's (default 6).</summary>
    public double OutlierFactor { get; } = outlierFactor > 0 ? outlierFactor
        : throw new ArgumentOutOfRangeException(nameof(outlierFactor), outlierFactor, "The outlier factor must be positive.");

    /// <summary>Column headings, in the order of the cells of <see cref="Rows"/>.</summary>
    public IReadOnlyList<string> Headers =>
        ["input", "tokens × channels", "max|x|", "median channel max|x|", "ratio", $"channels > {Number(OutlierFactor)}× median",
         "inter-channel var", "intra-channel var", "inter share"];

    /// <summary>The table's cells, formatted (invariant culture).</summary>
    public IEnumerable<string[]> Rows => Statistics.Select(s => new[]
    {
        s.Name,
        $"{s.Tokens} × {s.Channels}",
        Number(s.TensorAbsMax),
        Number(s.MedianAbsMax),
        Number(s.AbsMaxSpread),
        s.OutlierChannels(OutlierFactor).ToString(CultureInfo.InvariantCulture),
        Number(s.InterChannelVariance),
        Number(s.IntraChannelVariance),
        (100 * s.InterChannelShare).ToString("F0", CultureInfo.InvariantCulture) + " %",
    });

    /// <summary>The table as GitHub Markdown, numbers right-aligned.</summary>
    public string ToMarkdown()
    {
        var md = new StringBuilder();
        md.Append("| ").AppendJoin(" | ", Headers).Append(" |\n");
        md.Append("|---|").Append(string.Concat(Enumerable.Repeat("---:|", Headers.Count - 1))).Append('\n');
        foreach (var row in Rows)
            md.Append("| ").AppendJoin(" | ", row.Select(c => c.Replace("|", "\\|"))).Append(" |\n");
        return md.ToString();
    }

    /// <inheritdoc/>
    public string ToHtml() => HtmlTable.Render(Headers, Rows);

    /// <summary>The Markdown table.</summary>
    public override string ToString() => ToMarkdown();

    private static string Number(double value) => value.ToString("G4", CultureInfo.InvariantCulture);
}
