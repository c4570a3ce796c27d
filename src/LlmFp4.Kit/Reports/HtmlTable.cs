using System.Text;

namespace LlmFp4.Kit.Reports;

/// <summary>
/// The kit's HTML table: inline styles only (notebook viewers drop style sheets), first column left-aligned and the
/// others right-aligned, cells HTML-escaped.
/// </summary>
public static class HtmlTable
{
    /// <summary>
    /// A &lt;table&gt; of <paramref name="headers"/> and <paramref name="rows"/> (each row as long as the headers),
    /// with an optional caption.
    /// </summary>
    public static string Render(IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows, string? caption = null)
    {
        var html = new StringBuilder("<table style=\"border-collapse:collapse;font-family:sans-serif;font-size:13px\">\n");
        if (caption is not null)
            html.Append("<caption style=\"text-align:left;padding:4px\">").Append(Escape(caption)).Append("</caption>\n");
        html.Append("<thead><tr>");
        for (int i = 0; i < headers.Count; i++)
            html.Append($"<th style=\"border-bottom:1px solid #444;padding:4px 8px;text-align:{Align(i)}\">{Escape(headers[i])}</th>");
        html.Append("</tr></thead>\n<tbody>\n");
        foreach (var row in rows)
        {
            if (row.Count != headers.Count)
                throw new ArgumentException($"A row has {row.Count} cells but the table has {headers.Count} columns.", nameof(rows));
            html.Append("<tr>");
            for (int i = 0; i < row.Count; i++)
                html.Append($"<td style=\"padding:4px 8px;text-align:{Align(i)}\">{Escape(row[i])}</td>");
            html.Append("</tr>\n");
        }
        return html.Append("</tbody>\n</table>").ToString();
    }

    private static string Align(int column) => column == 0 ? "left" : "right";

    /// <summary>Escapes markup characters only, so "±" and "—" stay readable in the source.</summary>
    private static string Escape(string text) =>
        text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&quot;");
}
