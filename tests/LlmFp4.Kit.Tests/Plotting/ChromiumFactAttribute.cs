using LlmFp4.Kit.Plotting;

namespace LlmFp4.Kit.Tests.Plotting;

/// <summary>A fact that is reported as skipped, with the reason, where Chromium or plotly.js is not installed.</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (FigureExport.PngUnavailableReason is { } reason)
            Skip = reason;
    }
}
