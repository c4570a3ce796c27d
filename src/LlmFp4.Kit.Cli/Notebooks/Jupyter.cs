using System.Diagnostics;
using LlmFp4.Kit.Notebooks;
using LlmFp4.Kit.Plotting;

namespace LlmFp4.Kit.Cli.Notebooks;

/// <summary>How one notebook ran in Jupyter; <see cref="Html"/> and the figure counts are set when HTML was asked for.</summary>
public sealed record JupyterRun(string Notebook, string Output, TimeSpan Elapsed, string? Error)
{
    public bool Succeeded => Error is null;
    public string? Html { get; init; }
    public int? Figures { get; init; }
    public int? DrawnFigures { get; init; }
}

/// <summary>
/// Runs notebooks in real Jupyter with the .NET Interactive C# kernel, the kernel users open them in: <c>jupyter
/// nbconvert --execute</c> (Debian: <c>jupyter-nbconvert python3-nbclient jupyter-client</c>) with the kernel
/// <see cref="KernelName"/> (<c>dotnet tool install -g Microsoft.dotnet-interactive</c>, <c>dotnet interactive jupyter
/// install</c>). Notebook parameters travel as <c>LLMFP4_*</c> environment variables (<see cref="NotebookParameters"/>).
/// </summary>
public static class Jupyter
{
    public const string KernelName = ".net-csharp";

    public const string InstallHint =
        "install Jupyter (Debian: apt-get install jupyter-nbconvert python3-nbclient jupyter-client) and the .NET Interactive kernel " +
        "(dotnet tool install -g Microsoft.dotnet-interactive --version 1.0.712001; dotnet interactive jupyter install)";

    /// <summary>
    /// Executes <paramref name="notebook"/> with <paramref name="parameters"/> (name → value, as <c>LLMFP4_NAME</c>) and writes
    /// the executed copy to <paramref name="output"/>, also when a cell fails (the error is in the file and in the result).
    /// A cell running longer than <paramref name="cellTimeout"/> fails the notebook. With <paramref name="htmlDirectory"/>
    /// the executed copy is also converted to HTML there and opened in headless Chromium to count the figures it draws.
    /// </summary>
    public static JupyterRun Run(string notebook, string output, IReadOnlyDictionary<string, string> parameters, TimeSpan cellTimeout,
        string? htmlDirectory = null)
    {
        string outputDirectory = Path.GetDirectoryName(Path.GetFullPath(output))!;
        Directory.CreateDirectory(outputDirectory);
        var clock = Stopwatch.StartNew();
        var (exitCode, log) = Nbconvert(parameters,
            "--to", "notebook", "--execute", "--allow-errors",
            $"--ExecutePreprocessor.kernel_name={KernelName}",
            $"--ExecutePreprocessor.timeout={Math.Max(1, (int)cellTimeout.TotalSeconds)}",
            "--output-dir", outputDirectory, "--output", Path.GetFileNameWithoutExtension(output), Path.GetFullPath(notebook));
        var run = new JupyterRun(notebook, output, clock.Elapsed, exitCode == 0 ? FirstCellError(output) : Failure(log));
        if (htmlDirectory is null || !run.Succeeded)
            return run;

        string html = Path.Combine(Path.GetFullPath(htmlDirectory), Path.GetFileNameWithoutExtension(output) + ".html");
        var (htmlExit, htmlLog) = Nbconvert(new Dictionary<string, string>(),
            "--to", "html", "--output-dir", Path.GetDirectoryName(html)!, "--output", Path.GetFileNameWithoutExtension(html), output);
        if (htmlExit != 0)
            return run with { Error = "HTML conversion failed: " + Failure(htmlLog) };
        var (figures, drawn) = FigureExport.CountDrawnFigures(html);
        return run with
        {
            Html = html,
            Figures = figures,
            DrawnFigures = drawn,
            Error = drawn < figures ? $"{figures - drawn} of {figures} figure(s) in {html} were not drawn by Chromium." : null,
        };
    }

    private static (int ExitCode, string Log) Nbconvert(IReadOnlyDictionary<string, string> parameters, params string[] arguments)
    {
        var start = new ProcessStartInfo("jupyter") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("nbconvert");
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        foreach (var (name, value) in parameters)
            start.Environment[NotebookParameters.VariableName(name)] = value;
        // The kernel is started as `dotnet interactive`, a global tool, which `dotnet` finds on the PATH.
        string tools = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".dotnet", "tools");
        string path = start.Environment.TryGetValue("PATH", out var current) && current is not null ? current : "";
        if (!path.Split(Path.PathSeparator).Contains(tools))
            start.Environment["PATH"] = path.Length == 0 ? tools : path + Path.PathSeparator + tools;

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("jupyter did not start.");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException($"Running notebooks needs jupyter on the PATH: {InstallHint}.", ex);
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            string stderr = process.StandardError.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, stdout.Result + stderr);
        }
    }

    /// <summary>
    /// The first error output of the executed notebook, as "cell N: name: message" (cells counted from 1, markdown
    /// included), or null when every cell ran. Cells after a failing one still run (nbconvert --allow-errors), so the
    /// written notebook shows everything that went wrong.
    /// </summary>
    public static string? FirstCellError(string executedNotebook)
    {
        var cells = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(executedNotebook))?["cells"]?.AsArray() ?? [];
        for (int i = 0; i < cells.Count; i++)
            foreach (var output in cells[i]?["outputs"]?.AsArray() ?? [])
                if (output?["output_type"]?.GetValue<string>() == "error")
                    return $"cell {i + 1}: {output["ename"]?.GetValue<string>()}: {output["evalue"]?.GetValue<string>()}".Trim();
        return null;
    }

    /// <summary>The part of nbconvert's log that says what failed: from the cell error on, else its last lines.</summary>
    private static string Failure(string log)
    {
        int cellError = log.IndexOf("An error occurred while executing the following cell", StringComparison.Ordinal);
        string text = cellError >= 0 ? log[cellError..]
            : log.Contains("No such kernel named", StringComparison.Ordinal) ? $"the kernel {KernelName} is not installed: {InstallHint}."
            : string.Join('\n', log.TrimEnd().Split('\n').TakeLast(15));
        return text.Trim();
    }
}
