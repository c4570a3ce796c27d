namespace LlmFp4.Kit.Reports;

/// <summary>
/// A kit object (figure, table, report) that knows how to show itself as an HTML fragment. The notebook runner
/// renders such objects as <c>text/html</c> outputs; reports concatenate the fragments into a page.
/// </summary>
public interface IHtmlRenderable
{
    /// <summary>An HTML fragment (no &lt;html&gt; or &lt;body&gt;) that can be embedded in a page or notebook output.</summary>
    string ToHtml();
}
