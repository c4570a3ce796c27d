using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Evaluation;
using LlmFp4.Kit.Experiments;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Tokenizers;
using LlmFp4.Kit.Plotting;
using LlmFp4.Kit.Quantization;

namespace LlmFp4.Kit.Notebooks;

/// <summary>
/// What every notebook starts from, in one line: <c>var session = NotebookSession.Load();</c> — the parameters, the
/// default model and its tokenizer, calibration windows from the training split, held-out tokens from the test split,
/// and where figures are exported.
/// <para>
/// Parameters (<see cref="NotebookParameters"/>): <c>LLMFP4_QUICK</c> (default false), <c>LLMFP4_DATA</c> (default: the
/// first <c>data/</c> folder with <c>models/</c> from the current directory upwards, i.e. the repository's),
/// <c>LLMFP4_MODEL</c> (default <c>data/models/pdllama-7m</c>; any checkpoint <see cref="Reproduction.LoadModel"/>
/// reads), <c>LLMFP4_FIGURES</c> (the folder <see cref="Export"/> writes to; default the repository's <c>figures/</c> in
/// full mode and nowhere in quick mode, so quick runs never replace the committed full-mode figures; empty = nowhere).
/// </para>
/// <para>
/// Full mode uses the CLI's defaults: 32 windows × 512 tokens from all of <c>train.txt</c>, the paper's search grid
/// (100 candidates, 3 rounds) and the whole test split. Quick mode: 4 windows × 128 tokens from the first megabyte of
/// <c>train.txt</c>, 20 candidates and 1 round, the first 4096 test tokens.
/// </para>
/// </summary>
public sealed class NotebookSession
{
    /// <summary>The default model, under the data folder.</summary>
    public const string DefaultModel = "models/pdllama-7m";

    private const int QuickTrainCharacters = 1_000_000;
    private const int QuickTestTokens = 4096;

    private readonly LoadedModel? loaded;
    private readonly int[]? trainTokens;
    private readonly CalibrationSet? calibration;
    private readonly int[]? testTokens;

    private NotebookSession(bool quick, string dataDirectory, string modelPath, string? figuresDirectory, LoadedModel? loaded)
    {
        Quick = quick;
        DataDirectory = dataDirectory;
        ModelPath = modelPath;
        FiguresDirectory = figuresDirectory;
        CalibrationSettings = quick ? new CalibrationDataSettings { Samples = 4, SequenceLength = 128 } : new CalibrationDataSettings();
        Search = quick ? new SearchSettings { Steps = 20, Rounds = 1 } : new SearchSettings();
        this.loaded = loaded;
        if (loaded is null)
            return;
        string text = File.ReadAllText(TrainTextPath);
        trainTokens = loaded.Tokenizer.Encode(quick && text.Length > QuickTrainCharacters ? text[..QuickTrainCharacters] : text);
        calibration = CalibrationSet.Sample(trainTokens, CalibrationSettings, TrainTextPath);
        testTokens = loaded.Tokenizer.Encode(File.ReadAllText(Path.Combine(DataDirectory, "corpus", "test.txt")));
        if (quick && testTokens.Length > QuickTestTokens)
            testTokens = testTokens[..QuickTestTokens];
    }

    /// <summary>
    /// Reads the parameters from the environment and loads the model, tokenizer, calibration windows and test tokens;
    /// with <paramref name="withModel"/> false only the parameters and folders (for notebooks that need no model).
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">No data folder was found; it names where it looked and <c>LLMFP4_DATA</c>.</exception>
    public static NotebookSession Load(bool withModel = true) => Load(Environment.GetEnvironmentVariable, withModel);

    internal static NotebookSession Load(Func<string, string?> environment, bool withModel = true)
    {
        bool quick = NotebookParameters.Get("quick", false, environment);
        string dataDirectory = Path.GetFullPath(NotebookParameters.Get("data", "", environment) is { Length: > 0 } data ? data : FindDataDirectory());
        if (!Directory.Exists(dataDirectory))
            throw new DirectoryNotFoundException($"{NotebookParameters.VariableName("data")} names '{dataDirectory}', which does not exist.");
        string modelPath = Path.GetFullPath(NotebookParameters.Get("model", "", environment) is { Length: > 0 } model ? model : Path.Combine(dataDirectory, DefaultModel));
        string defaultFigures = quick ? "" : Path.Combine(Path.GetDirectoryName(dataDirectory)!, "figures");
        string figures = NotebookParameters.Get("figures", defaultFigures, environment);
        var loaded = withModel ? Reproduction.LoadModel(modelPath, dataDirectory) : null;
        return new NotebookSession(quick, dataDirectory, modelPath, figures.Length == 0 ? null : Path.GetFullPath(figures), loaded);
    }

    private static string FindDataDirectory()
    {
        try
        {
            return TaskRegistry.FindDataDirectory("models");
        }
        catch (DirectoryNotFoundException ex)
        {
            throw new DirectoryNotFoundException(
                $"{ex.Message} Open the notebook inside the LlmFp4.Kit repository, or set {NotebookParameters.VariableName("data")} to its data folder.", ex);
        }
    }

    /// <summary>CI-sized work (<c>LLMFP4_QUICK</c>).</summary>
    public bool Quick { get; }

    /// <summary>The data folder: <c>models/</c>, <c>corpus/</c>, <c>tasks/</c>, <c>tokenizer/</c>.</summary>
    public string DataDirectory { get; }

    /// <summary>The checkpoint the session loads (a folder or file).</summary>
    public string ModelPath { get; }

    /// <summary>Where <see cref="Export"/> writes figures, or null when figures are not exported.</summary>
    public string? FiguresDirectory { get; }

    /// <summary>The training split, the source of the calibration windows.</summary>
    public string TrainTextPath => Path.Combine(DataDirectory, "corpus", "train.txt");

    /// <summary>The unquantized float32 model; quantize copies of it (<see cref="Quantized"/>), never the model itself.</summary>
    public LlamaModel Model => Loaded.Model;

    /// <summary>The model's tokenizer (its folder's <c>tokenizer.json</c>, else the kit's).</summary>
    public ITokenizer Tokenizer => Loaded.Tokenizer;

    /// <summary>The tokens the calibration windows are drawn from (the first megabyte of the training split in quick mode).</summary>
    public int[] TrainTokens => trainTokens ?? throw NoModel();

    /// <summary>How many calibration windows of how many tokens (see the class summary).</summary>
    public CalibrationDataSettings CalibrationSettings { get; }

    /// <summary>The bias search grid and rounds (see the class summary).</summary>
    public SearchSettings Search { get; }

    /// <summary>The calibration windows, drawn with <see cref="CalibrationSettings"/>.</summary>
    public CalibrationSet Calibration => calibration ?? throw NoModel();

    /// <summary>Held-out tokens for perplexity.</summary>
    public int[] TestTokens => testTokens ?? throw NoModel();

    private LoadedModel Loaded => loaded ?? throw NoModel();

    private static InvalidOperationException NoModel() =>
        new("This session was loaded without the model (NotebookSession.Load(withModel: false)).");

    /// <summary>A preset (<see cref="QuantPresets.Get"/>) with this session's calibration data and search settings.</summary>
    public QuantConfig Preset(string name) => QuantPresets.Get(name).WithSearch(Search) with { Calibration = CalibrationSettings };

    /// <summary>Perplexity of <paramref name="model"/> on <see cref="TestTokens"/>.</summary>
    public double Perplexity(LlamaModel model) => PerplexityEvaluator.Evaluate(model, TestTokens, null).Perplexity;

    /// <summary>
    /// A copy of <see cref="Model"/> with <paramref name="result"/> applied; <paramref name="fold"/> folds FPQ's pre-shifted
    /// activation bias into the weights (see <see cref="CalibrationResult.Apply"/>).
    /// </summary>
    public LlamaModel Quantized(CalibrationResult result, bool fold = false)
    {
        ArgumentNullException.ThrowIfNull(result);
        var copy = Model.Clone();
        result.Apply(copy, fold);
        return copy;
    }

    /// <summary>
    /// Writes <paramref name="figure"/> to <see cref="FiguresDirectory"/> as <c>{name}.png</c> (or <c>{name}.html</c>
    /// where PNG export is unavailable) and returns the path; returns null when figures are not exported.
    /// </summary>
    public string? Export(Figure figure, string name)
    {
        ArgumentNullException.ThrowIfNull(figure);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (FiguresDirectory is null)
            return null;
        string path = Path.Combine(FiguresDirectory, name + (FigureExport.PngAvailable ? ".png" : ".html"));
        if (FigureExport.PngAvailable)
            FigureExport.SavePng(figure, path);
        else
            FigureExport.SaveHtml(figure, path);
        return path;
    }

    /// <summary>
    /// One line: the mode, the model's shape, the calibration and test sizes, and where figures go (relative to the
    /// current directory, so an executed notebook does not show the machine's folders).
    /// </summary>
    public override string ToString()
    {
        string figures = FiguresDirectory is null ? "figures not exported"
            : $"figures → {Path.GetRelativePath(Environment.CurrentDirectory, FiguresDirectory)}";
        if (loaded is null)
            return $"quick = {Quick}; {figures}";
        var config = loaded.Model.Config;
        return $"quick = {Quick}; {loaded.Name}: {config.NumHiddenLayers} layers, hidden {config.HiddenSize}; " +
            $"calibration {Calibration.Windows.Count} × {CalibrationSettings.SequenceLength} tokens; test {TestTokens.Length} tokens; {figures}";
    }
}
