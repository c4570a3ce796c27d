using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace LlmFp4.Kit.Plotting;

/// <summary>
/// Writes figures as HTML (plotly.js inlined, no CDN) and PNG (headless Chromium). By convention exported
/// figures go to the repository's <c>figures/</c> folder; the caller passes the path.
/// <para>
/// plotly.js comes from npm <c>plotly.js-dist-min</c> (the repository's package.json; <c>npm ci</c> at the root
/// installs it). It is found at <c>$LLMFP4_PLOTLY_JS</c>, or at
/// <c>node_modules/plotly.js-dist-min/plotly.min.js</c> in the current directory, the kit assembly's directory or
/// any of their parents. Chromium is <c>$LLMFP4_CHROMIUM</c> or <c>chromium</c> / <c>chromium-browser</c> /
/// <c>google-chrome</c> on the PATH (Debian: <c>apt-get install chromium</c>).
/// </para>
/// </summary>
public static class FigureExport
{
    /// <summary>Environment variable naming the plotly.min.js file to inline.</summary>
    public const string PlotlyJsVariable = "LLMFP4_PLOTLY_JS";
    /// <summary>Environment variable naming the Chromium executable used for PNG export.</summary>
    public const string ChromiumVariable = "LLMFP4_CHROMIUM";
    /// <summary>PNG width in px when the figure sets none.</summary>
    public const int DefaultWidth = 900;
    /// <summary>PNG height in px when the figure sets none.</summary>
    public const int DefaultHeight = 500;

    private const string FigureElementPrefix = "llmfp4-figure-";
    private const string PlotlyRelativePath = "node_modules/plotly.js-dist-min/plotly.min.js";
    private static readonly string[] ChromiumNames = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];
    private static readonly TimeSpan ChromiumTimeout = TimeSpan.FromSeconds(90);

    /// <summary>Full path of plotly.min.js, or null when it cannot be found (see <see cref="PlotlyJsMissingMessage"/>).</summary>
    public static string? PlotlyJsPath =>
        FindPlotlyJs(Environment.GetEnvironmentVariable(PlotlyJsVariable), [Environment.CurrentDirectory, AppContext.BaseDirectory]);

    /// <summary>A configured path wins (null when that file is missing); otherwise the first node_modules copy walking up.</summary>
    internal static string? FindPlotlyJs(string? configuredPath, IEnumerable<string> startDirectories)
    {
        if (!string.IsNullOrEmpty(configuredPath))
            return File.Exists(configuredPath) ? Path.GetFullPath(configuredPath) : null;
        foreach (string start in startDirectories)
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, PlotlyRelativePath);
                if (File.Exists(candidate))
                    return candidate;
            }
        }
        return null;
    }

    /// <summary>Why plotly.js was not found and how to get it.</summary>
    public static string PlotlyJsMissingMessage =>
        Environment.GetEnvironmentVariable(PlotlyJsVariable) is { Length: > 0 } fromEnvironment
            ? $"{PlotlyJsVariable} points to '{fromEnvironment}', which does not exist."
            : $"plotly.js not found: run `npm ci` in the repository root (installs {PlotlyRelativePath}) " +
              $"or set {PlotlyJsVariable} to a plotly.min.js file.";

    /// <summary>The Chromium executable used for PNG export, or null when none is installed.</summary>
    public static string? ChromiumPath
    {
        get
        {
            if (Environment.GetEnvironmentVariable(ChromiumVariable) is { Length: > 0 } fromEnvironment)
                return File.Exists(fromEnvironment) ? Path.GetFullPath(fromEnvironment) : null;
            string[] path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
            foreach (string name in ChromiumNames)
                foreach (string dir in path.Append("/usr/bin"))
                {
                    string candidate = Path.Combine(dir, name);
                    if (File.Exists(candidate))
                        return candidate;
                }
            return null;
        }
    }

    /// <summary>True when both Chromium and plotly.js are present, so <see cref="SavePng"/> can work.</summary>
    public static bool PngAvailable => PngUnavailableReason is null;

    /// <summary>Null when PNG export works; otherwise what is missing and how to install it.</summary>
    public static string? PngUnavailableReason
    {
        get
        {
            if (PlotlyJsPath is null)
                return "PNG export needs plotly.js: " + PlotlyJsMissingMessage;
            if (ChromiumPath is null)
                return Environment.GetEnvironmentVariable(ChromiumVariable) is { Length: > 0 } fromEnvironment
                    ? $"PNG export needs Chromium, but {ChromiumVariable} points to '{fromEnvironment}', which does not exist."
                    : $"PNG export needs headless Chromium: install it (Debian: `apt-get install chromium`) or set {ChromiumVariable}.";
            return null;
        }
    }

    /// <summary>
    /// An HTML fragment: a div holding <paramref name="placeholderHtml"/> (e.g. a PNG &lt;img&gt;) and a script that
    /// replaces it with the interactive plot when the page has plotly.js loaded (<c>window.Plotly</c>). The element
    /// id is derived from the figure's JSON and <paramref name="sequence"/> (the figure's number in a notebook, so one
    /// figure shown twice gets two elements) so re-running a notebook gives identical output.
    /// </summary>
    public static string ToHtmlFragment(Figure figure, string? placeholderHtml = null, int? sequence = null)
    {
        string json = figure.ToJson();
        string id = FigureElementPrefix + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(json)))[..12] + (sequence is { } n ? $"-{n}" : "");
        string size = (figure.Layout.Width is { } w ? $"width:{w}px;" : "") + (figure.Layout.Height is { } h ? $"height:{h}px;" : "");
        placeholderHtml ??= $"<em>{WebUtility.HtmlEncode(figure.ToString())} (interactive view needs plotly.js)</em>";
        return $$"""
            <div id="{{id}}" class="llmfp4-figure" style="{{size}}">{{placeholderHtml}}</div>
            <script>
            (function () {
              var figure = {{json}};
              if (!window.Plotly) return;
              var element = document.getElementById("{{id}}");
              element.innerHTML = "";
              window.Plotly.newPlot(element, figure.data, figure.layout, {responsive: true});
            })();
            </script>
            """;
    }

    /// <summary>
    /// A complete HTML page showing the figure. With <paramref name="inlinePlotlyJs"/> the page carries plotly.js
    /// itself and works offline anywhere; when plotly.js cannot be found the page says so (no CDN fallback) and holds
    /// the figure JSON. Without it, the page loads <c>plotly.min.js</c> from its own folder (see <see cref="SaveHtml"/>).
    /// </summary>
    public static string ToHtml(Figure figure, bool inlinePlotlyJs = true) =>
        ToHtml(figure, inlinePlotlyJs, inlinePlotlyJs ? PlotlyJsPath : null);

    internal static string ToHtml(Figure figure, bool inlinePlotlyJs, string? plotlyJsPath)
    {
        string script;
        if (!inlinePlotlyJs)
            script = """<script src="plotly.min.js"></script>""";
        else if (plotlyJsPath is { } plotly)
            script = InlineScript(plotly);
        else
            return Page(figure, "", $"""
                <p><strong>This figure could not be drawn:</strong> {WebUtility.HtmlEncode(PlotlyJsMissingMessage)}</p>
                <pre>{WebUtility.HtmlEncode(figure.ToJson(indented: true))}</pre>
                """);
        return Page(figure, script, ToHtmlFragment(figure));
    }

    /// <summary>
    /// plotly.js inlined in a &lt;script&gt; element, for pages and notebooks that must draw figures offline, or null
    /// when plotly.js cannot be found (<see cref="PlotlyJsMissingMessage"/> says why). It defines <c>window.Plotly</c>.
    /// </summary>
    public static string? InlinePlotlyScript() => PlotlyJsPath is { } path ? InlineScript(path) : null;

    private static string InlineScript(string plotlyJsPath) =>
        "<script>" + File.ReadAllText(plotlyJsPath).Replace("</script", "<\\/script", StringComparison.OrdinalIgnoreCase) + "</script>";

    /// <summary>
    /// Writes <see cref="ToHtml(Figure, bool)"/> to <paramref name="path"/> (temp file, then rename). Without
    /// <paramref name="inlinePlotlyJs"/>, plotly.min.js is copied next to the file once so many figures share it.
    /// </summary>
    public static void SaveHtml(Figure figure, string path, bool inlinePlotlyJs = true)
    {
        string html = ToHtml(figure, inlinePlotlyJs);
        string directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        if (!inlinePlotlyJs)
        {
            string shared = Path.Combine(directory, "plotly.min.js");
            if (!File.Exists(shared))
                WriteAtomically(shared, File.ReadAllBytes(PlotlyJsPath ?? throw new FileNotFoundException(PlotlyJsMissingMessage)));
        }
        WriteAtomically(path, Encoding.UTF8.GetBytes(html));
    }

    /// <summary>
    /// Renders the figure to a PNG of width × height pixels (default: the figure's size, else 900 × 500) with
    /// headless Chromium. Throws <see cref="InvalidOperationException"/> with <see cref="PngUnavailableReason"/>
    /// when Chromium or plotly.js is missing.
    /// </summary>
    public static byte[] RenderPng(Figure figure, int? width = null, int? height = null)
    {
        if (PngUnavailableReason is { } reason)
            throw new InvalidOperationException(reason);
        int w = width ?? figure.Layout.Width ?? DefaultWidth;
        int h = height ?? figure.Layout.Height ?? DefaultHeight;
        ArgumentOutOfRangeException.ThrowIfLessThan(w, 1, nameof(width));
        ArgumentOutOfRangeException.ThrowIfLessThan(h, 1, nameof(height));

        string work = Directory.CreateTempSubdirectory("llmfp4-png-").FullName;
        try
        {
            // Plotly draws at exactly the window size and without animation, so the screenshot holds the whole plot.
            string page = Path.Combine(work, "figure.html");
            string plotlyUrl = new Uri(PlotlyJsPath!).AbsoluteUri;
            File.WriteAllText(page, $$"""
                <!DOCTYPE html>
                <html><head><meta charset="utf-8"><script src="{{plotlyUrl}}"></script>
                <style>html, body { margin: 0; padding: 0; overflow: hidden; background: white; }</style></head>
                <body><div id="figure"></div>
                <script>
                var figure = {{figure.ToJson()}};
                figure.layout.width = {{w}}; figure.layout.height = {{h}};
                Plotly.newPlot("figure", figure.data, figure.layout, {staticPlot: true, displayModeBar: false});
                </script></body></html>
                """);
            string shot = Path.Combine(work, "figure.png");
            var (exitCode, log) = RunChromium(work, $"--screenshot={shot}", $"--window-size={w},{h}", "--hide-scrollbars", new Uri(page).AbsoluteUri);
            if (!File.Exists(shot) || new FileInfo(shot).Length == 0)
                throw new InvalidOperationException($"Chromium ({ChromiumPath}) exited with code {exitCode} without writing a screenshot. Its output:\n{Tail(log)}");
            return File.ReadAllBytes(shot);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>Writes <see cref="RenderPng"/> to <paramref name="path"/> (temp file, then rename).</summary>
    public static void SavePng(Figure figure, string path, int? width = null, int? height = null)
    {
        byte[] png = RenderPng(figure, width, height);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        WriteAtomically(path, png);
    }

    private static string Page(Figure figure, string headScript, string body)
    {
        string title = WebUtility.HtmlEncode(figure.Layout.Title?.Text ?? "Figure");
        return $"""
            <!DOCTYPE html>
            <html><head><meta charset="utf-8"><title>{title}</title>
            {headScript}
            </head><body>
            {body}
            </body></html>
            """;
    }

    /// <summary>
    /// Opens <paramref name="pagePath"/> in headless Chromium with every host name unresolvable (so nothing is fetched
    /// from the network), lets its scripts run, and returns the resulting DOM as HTML.
    /// </summary>
    /// <exception cref="InvalidOperationException">Chromium is not installed or printed no DOM.</exception>
    public static string RenderDom(string pagePath)
    {
        if (ChromiumPath is null)
            throw new InvalidOperationException($"Rendering a page needs headless Chromium: install it (Debian: `apt-get install chromium`) or set {ChromiumVariable}.");
        string work = Directory.CreateTempSubdirectory("llmfp4-dom-").FullName;
        try
        {
            var (exitCode, log) = RunChromium(work, "--dump-dom", new Uri(Path.GetFullPath(pagePath)).AbsoluteUri);
            int html = log.IndexOf("<html", StringComparison.OrdinalIgnoreCase);
            if (html < 0)
                throw new InvalidOperationException($"Chromium ({ChromiumPath}) exited with code {exitCode} without printing {pagePath}'s DOM. Its output:\n{Tail(log)}");
            return log[html..];
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>
    /// How many kit figures (<see cref="ToHtmlFragment"/>) a page holds and how many of them a real browser draws: a figure
    /// counts as drawn when plotly's SVG (<c>class="main-svg"</c>) is inside its element after the page's scripts ran
    /// (<see cref="RenderDom"/>), not when the element still shows its placeholder or is empty.
    /// </summary>
    public static (int Figures, int Drawn) CountDrawnFigures(string pagePath)
    {
        string dom = RenderDom(pagePath);
        string[] figures = dom.Split($"<div id=\"{FigureElementPrefix}", StringSplitOptions.None)[1..];
        // Each piece runs from one figure's element to the next one's, so an SVG in it belongs to that figure.
        return (figures.Length, figures.Count(piece => piece.Contains("class=\"main-svg\"", StringComparison.Ordinal)));
    }

    /// <summary>Runs headless Chromium on <paramref name="arguments"/> with a profile in <paramref name="work"/>; returns its exit code and output.</summary>
    private static (int ExitCode, string Output) RunChromium(string work, params string[] arguments)
    {
        var start = new ProcessStartInfo(ChromiumPath!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in new[]
        {
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND", "--force-device-scale-factor=1", "--allow-file-access-from-files",
            $"--user-data-dir={Path.Combine(work, "profile")}", "--virtual-time-budget=10000",
        }.Concat(arguments))
            start.ArgumentList.Add(argument);

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {ChromiumPath}.");
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        if (!process.WaitForExit(ChromiumTimeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"Chromium ({ChromiumPath}) did not finish within {ChromiumTimeout.TotalSeconds:0} s.");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    private static string Tail(string log)
    {
        log = log.Trim();
        return log.Length > 2000 ? "…" + log[^2000..] : log;
    }

    private static void WriteAtomically(string path, byte[] bytes)
    {
        string temp = path + ".tmp-" + Environment.ProcessId;
        File.WriteAllBytes(temp, bytes);
        File.Move(temp, path, overwrite: true);
    }
}
