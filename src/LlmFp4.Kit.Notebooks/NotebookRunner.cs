using System.Collections.Immutable;
using System.Diagnostics;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Scripting;
using Microsoft.CodeAnalysis.Scripting;

namespace LlmFp4.Kit.Notebooks;

/// <summary>What to run a notebook with.</summary>
public sealed record NotebookRunOptions
{
    /// <summary>name → value, read in the notebook with <see cref="NotebookParameters.Get{T}"/>.</summary>
    public IReadOnlyDictionary<string, string> Parameters { get; init; } = new Dictionary<string, string>();

    /// <summary>Time allowed for the whole notebook.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Render displayed figures to image/png too (when Chromium and plotly.js are installed).</summary>
    public bool RenderPng { get; init; } = true;

    /// <summary>Run with the notebook's folder as the current directory, as Polyglot Notebooks does.</summary>
    public bool UseNotebookDirectory { get; init; } = true;
}

/// <summary>How a run went. <see cref="FailedCellIndex"/> counts all cells from 0, markdown included.</summary>
public sealed record NotebookRunResult(
    int CodeCells,
    int ExecutedCells,
    TimeSpan Elapsed,
    int? FailedCellIndex,
    string? Error,
    bool TimedOut,
    IReadOnlyList<string> PackageSources)
{
    public bool Succeeded => FailedCellIndex is null;

    /// <summary>Where the executed notebook was written (set by <see cref="NotebookRunner.Run"/>).</summary>
    public string? OutputPath { get; init; }
}

/// <param name="CodeCellsDone">Code cells finished so far.</param>
/// <param name="CodeCellCount">Code cells in the notebook.</param>
/// <param name="CellIndex">Index of the cell about to run (all cells, from 0), or the cell count when done.</param>
public sealed record NotebookProgress(int CodeCellsDone, int CodeCellCount, int CellIndex);

/// <summary>
/// Runs a C# notebook headlessly, the way Polyglot Notebooks would, and writes the outputs back.
/// <list type="bullet">
/// <item>Code cells run in order in one Roslyn script state (variables, usings and types carry over); markdown and raw
///   cells are left as they are. Default usings: System, System.Collections.Generic, System.IO, System.Linq,
///   System.Text, System.Threading.Tasks.</item>
/// <item>Directives (see <see cref="NotebookDirectives"/>): <c>#!csharp</c>; <c>#i "nuget: &lt;folder&gt;"</c> (recorded);
///   <c>#r "nuget: LlmFp4.Kit, &lt;version&gt;"</c> → the kit assembly this runner was built with (the version must match
///   or be a wildcard); <c>#r "&lt;path&gt;.dll"</c> relative to the notebook. Without the kit directive the kit is not
///   referenced, just as in Polyglot.</item>
/// <item>Globals: <c>display(object)</c> only (<see cref="NotebookGlobals"/>). A cell's last expression without a
///   semicolon is shown as its result. Strings and plain objects render as text/plain, kit objects
///   (<see cref="Reports.IHtmlRenderable"/>) as text/html, figures also as image/png when Chromium is present.</item>
/// <item>Console.Out/Console.Error are captured per cell as stdout/stderr stream outputs.</item>
/// <item>Parameters: <c>--param name=value</c> (and <c>--quick</c> = <c>--param quick=true</c>) are read in the notebook
///   with <c>NotebookParameters.Get("name", defaultValue)</c> or <c>NotebookParameters.Quick</c>; outside the runner they
///   take their defaults, so the notebook still runs in Polyglot.</item>
/// <item>The current directory is the notebook's folder during the run, so relative paths (e.g. "../figures/x.png")
///   mean the same as in Polyglot. Console redirection, the current directory and parameters are process-wide:
///   run one notebook at a time per process.</item>
/// <item>The first failing cell (compile error, exception, directive error or timeout) stops the run: its error is
///   written as an error output, later code cells lose their stale outputs, and the result names the cell index.
///   A cell still running at the timeout cannot be aborted (.NET has no thread abort); it is reported and
///   abandoned, and ends with the process.</item>
/// </list>
/// The notebook metadata is set for the .NET Interactive C# kernel so the file still opens in Polyglot/Jupyter.
/// </summary>
public static class NotebookRunner
{
    private static readonly string[] DefaultImports =
        ["System", "System.Collections.Generic", "System.IO", "System.Linq", "System.Text", "System.Threading.Tasks"];

    private static readonly Lazy<ImmutableArray<MetadataReference>> BaseReferences = new(() =>
    {
        // The shared framework's assemblies, as .NET Interactive offers them, plus the globals type's assembly.
        string frameworkDirectory = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        var framework = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Where(path => string.Equals(Path.GetDirectoryName(path), frameworkDirectory, StringComparison.Ordinal))
            .Select(path => (MetadataReference)MetadataReference.CreateFromFile(path));
        return [.. framework, MetadataReference.CreateFromFile(typeof(NotebookGlobals).Assembly.Location)];
    });

    /// <summary>
    /// Loads <paramref name="notebookPath"/>, executes it and writes it with outputs to <paramref name="outputPath"/>
    /// (default: in place), also when a cell failed, so the error is visible in the file.
    /// </summary>
    public static NotebookRunResult Run(string notebookPath, string? outputPath = null, NotebookRunOptions? options = null, IProgress<NotebookProgress>? progress = null)
    {
        var notebook = Notebook.Load(notebookPath);
        string directory = Path.GetDirectoryName(Path.GetFullPath(notebookPath))!;
        var result = Execute(notebook, directory, options, progress);
        string destination = outputPath ?? notebookPath;
        notebook.Save(destination);
        return result with { OutputPath = destination };
    }

    /// <summary>Executes <paramref name="notebook"/> in memory, replacing its outputs; <paramref name="directory"/> is its folder.</summary>
    public static NotebookRunResult Execute(Notebook notebook, string directory, NotebookRunOptions? options = null, IProgress<NotebookProgress>? progress = null)
    {
        options ??= new NotebookRunOptions();
        notebook.EnsureDotNetInteractiveMetadata();
        var codeCells = notebook.Cells.Where(c => c.IsCode).ToList();
        foreach (var cell in codeCells)
            cell.ClearOutputs();

        var session = new Session(directory, options);
        var clock = Stopwatch.StartNew();
        string previousDirectory = Environment.CurrentDirectory;
        using var parameters = NotebookParameters.Use(options.Parameters);
        if (options.UseNotebookDirectory)
            Environment.CurrentDirectory = directory;
        try
        {
            int done = 0;
            foreach (var cell in codeCells)
            {
                progress?.Report(new NotebookProgress(done, codeCells.Count, cell.Index));
                if (string.IsNullOrWhiteSpace(cell.Source))
                {
                    done++;
                    continue;
                }
                var failure = session.RunCell(cell, options.Timeout - clock.Elapsed);
                if (failure is not null)
                {
                    return new NotebookRunResult(codeCells.Count, done, clock.Elapsed, cell.Index,
                        $"cell {cell.Index}: {failure.Value.Message}", failure.Value.TimedOut, session.PackageSources);
                }
                done++;
            }
            progress?.Report(new NotebookProgress(done, codeCells.Count, notebook.Cells.Count));
            return new NotebookRunResult(codeCells.Count, done, clock.Elapsed, null, null, false, session.PackageSources);
        }
        finally
        {
            if (options.UseNotebookDirectory)
                Environment.CurrentDirectory = previousDirectory;
        }
    }

    /// <summary>One notebook's script state: the chain of submissions, the references so far and the globals.</summary>
    private sealed class Session(string directory, NotebookRunOptions options)
    {
        private readonly NotebookGlobals globals = new();
        private readonly CancellationTokenSource cancellation = new();
        private readonly List<string> packageSources = [];
        private ScriptOptions scriptOptions = ScriptOptions.Default
            .WithReferences(BaseReferences.Value)
            .WithImports(DefaultImports)
            .WithOptimizationLevel(OptimizationLevel.Release)
            .WithMetadataResolver(ScriptMetadataResolver.Default.WithBaseDirectory(directory));
        private ScriptState<object>? state;
        private int executionCount;

        public IReadOnlyList<string> PackageSources => packageSources;

        /// <summary>Runs one code cell and writes its outputs; returns the failure that stops the notebook, if any.</summary>
        public (string Message, bool TimedOut)? RunCell(NotebookCell cell, TimeSpan remaining)
        {
            cell.ExecutionCount = ++executionCount;
            var outputs = new CellOutputs(cell.Outputs, options.RenderPng);
            var (stdout, stderr) = (Console.Out, Console.Error);
            Console.SetOut(outputs.Out);
            Console.SetError(outputs.Error);
            globals.Cell = outputs;
            try
            {
                if (cell.KernelName is { } kernel && kernel != "csharp")
                    throw new InvalidDataException($"this is a '{kernel}' cell; only C# cells run here.");
                var parsed = NotebookDirectives.Parse(cell.Source);
                foreach (var directive in parsed.Directives)
                    Apply(directive);

                string code = parsed.Code;
                var submission = Task.Run(() => state is null
                    ? CSharpScript.RunAsync(code, scriptOptions, globals, typeof(NotebookGlobals), cancellation.Token)
                    : state.ContinueWithAsync(code, scriptOptions, cancellation.Token));
                if (!submission.Wait(remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero))
                {
                    cancellation.Cancel();
                    string message = $"timed out: the notebook's {options.Timeout.TotalSeconds:0} s ran out while this cell was running.";
                    outputs.Failure("TimeoutException", message, [message]);
                    return (message, true);
                }
                state = submission.Result;
                if (state.ReturnValue is { } value)
                    outputs.Result(value, executionCount);
                outputs.FlushStreams();
                return null;
            }
            catch (Exception ex)
            {
                var error = Unwrap(ex);
                if (error is CompilationErrorException compilation)
                {
                    var diagnostics = compilation.Diagnostics.Select(d => d.ToString()).ToArray();
                    outputs.Failure("CompilationError", string.Join("\n", diagnostics), diagnostics);
                    return (string.Join("; ", diagnostics), false);
                }
                outputs.Failure(error.GetType().Name, error.Message, error.ToString().Split('\n').Select(l => l.TrimEnd('\r')));
                return ($"{error.GetType().Name}: {error.Message}", false);
            }
            finally
            {
                globals.Cell = null;
                Console.SetOut(stdout);
                Console.SetError(stderr);
            }
        }

        private void Apply(NotebookDirective directive)
        {
            switch (directive.Kind)
            {
                case DirectiveKind.CSharpMarker:
                    break;
                case DirectiveKind.PackageSource:
                    packageSources.Add(directive.Value);
                    break;
                case DirectiveKind.KitPackage:
                    string wanted = directive.Value;
                    if (wanted.Length > 0 && !wanted.Contains('*') && wanted.Split('-')[0] != KitInfo.Version)
                        throw new InvalidDataException(
                            $"line {directive.Line} asks for {NotebookDirectives.KitPackageId} {wanted}, but this runner is built with {KitInfo.Version}.");
                    scriptOptions = scriptOptions.AddReferences(KitReferences());
                    break;
                case DirectiveKind.AssemblyReference:
                    string path = Path.GetFullPath(directive.Value, directory);
                    if (!File.Exists(path))
                        throw new FileNotFoundException($"line {directive.Line}: assembly '{directive.Value}' not found (looked for {path}).", path);
                    scriptOptions = scriptOptions.AddReferences(MetadataReference.CreateFromFile(path));
                    break;
            }
        }

        /// <summary>The kit and the non-framework assemblies it references, as the NuGet package would bring them.</summary>
        private static IEnumerable<MetadataReference> KitReferences()
        {
            var kit = typeof(KitInfo).Assembly;
            string frameworkDirectory = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
            yield return MetadataReference.CreateFromFile(kit.Location);
            foreach (var name in kit.GetReferencedAssemblies())
            {
                string location = Assembly.Load(name).Location;
                if (location.Length > 0 && Path.GetDirectoryName(location) != frameworkDirectory)
                    yield return MetadataReference.CreateFromFile(location);
            }
        }

        private static Exception Unwrap(Exception ex)
        {
            while (ex is AggregateException { InnerExceptions.Count: 1 } or TargetInvocationException && ex.InnerException is not null)
                ex = ex.InnerException;
            return ex;
        }
    }
}
