using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Plotting;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tensors;
using Trace = LlmFp4.Kit.Plotting.Trace;
using static LlmFp4.Kit.Benchmarks.CostCurveBenchmark;

namespace LlmFp4.Kit.Benchmarks;

/// <summary>
/// <c>dotnet run -c Release --project benchmarks/LlmFp4.Kit.Benchmarks -- cost-curve [--quick] [--out DIR] [--figure PNG]</c>:
/// the measured cost curve of an FPQ W4A4 calibration (<c>fpq:4/4/4</c>) on seeded random-weight LLaMA models in
/// TinyLlama-1.1B's proportions (<see cref="CalibrationCost.TinyLlamaShape"/>) at hidden 256, 512, 1024 and 2048, each
/// calibrated in its own process so that its peak RSS (VmHWM) is its own; then the same at the smallest size with the
/// calibration tokens, candidates and rounds varied one at a time (the setting exponents), and at 8-bit activations
/// (<c>fpq:4/4/8</c>) and 8-bit weights, activations and embedding (<c>fpq:8/8/8</c>) (the width factors). Writes every point with its
/// provenance and load average to <c>DIR/cost-curve.json</c>, prints the fit (power laws, <see cref="CostFit"/>) in the
/// form <see cref="CalibrationCost"/> keeps its constants, the projections for TinyLlama-1.1B and LLaMA-7B, and draws
/// the figure with the kit's plotting. <c>--quick</c> runs tiny shapes and settings (a smoke run, seconds).
/// </summary>
internal static class CostCurveBenchmark
{
    internal const string FittedConfig = "fpq:4/4/4";

    /// <summary>The width series: 8-bit activations, then 8-bit weights, activations and embedding; each the next wider step from the one before.</summary>
    internal static readonly string[] WideConfigs = ["fpq:4/4/8", "fpq:8/8/8"];

    /// <summary>The config a point ran; points recorded before the width series have none and ran <see cref="FittedConfig"/>.</summary>
    internal static string ConfigOf(JsonNode point) => (string?)point["config"] ?? FittedConfig;

    /// <summary>
    /// A stage's CPU seconds: its wall seconds times the cores the run kept busy on average, so a point measured while other
    /// jobs took the cores counts the work it did, not the time it waited.
    /// </summary>
    internal static double CpuSeconds(JsonNode point, string stage) =>
        (double)point[stage]! * (double)point["cpu_seconds"]! / (double)point["wall_seconds"]!;

    private sealed record Point(string Series, int Hidden, int Layers, int Samples, int SequenceLength, int Steps, int Rounds, string Config = FittedConfig);

    public static int Run(string[] args)
    {
        if (args.Length > 0 && args[0] == "--point") return RunPoint(args[1..]);
        var options = VerbOptions.Parse(args, ["--quick"], ["--out", "--figure", "--from"]);
        string root = PeerBenchmark.RepositoryRoot();
        bool quick = options.Has("--quick");
        // Only a plain run writes over the committed data and figure: a quick run (a smoke test) goes to a temporary
        // folder of its own, and --out takes the figure along unless --figure says otherwise.
        string outDir = options["--out"] ?? (quick ? Directory.CreateTempSubdirectory("llmfp4-cost-curve-quick-").FullName : Path.Combine(root, "benchmarks", "cost-curve"));
        string figure = options["--figure"] ?? (quick || options["--out"] is not null ? Path.Combine(outDir, "cost-curve.png") : Path.Combine(root, "figures", "cost-curve.png"));
        var (data, setting) = options["--from"] is { } from ? Refit(from) : Measure(quick, Path.Combine(outDir, "cost-curve.json"));
        var measured = data["points"]!.AsArray();
        var fit = CostFit.From(measured, setting);
        data["fit"] = fit.ToJson();
        Directory.CreateDirectory(outDir);
        string dataPath = Path.Combine(outDir, "cost-curve.json");
        AtomicFile.WriteText(dataPath, w => w.Write(data.ToJsonString(new JsonSerializerOptions { WriteIndented = true })));
        Console.WriteLine($"data: {dataPath}");
        if (quick) Console.WriteLine("--quick: tiny shapes and settings, a smoke test of the measurement and the fit; the fit and projections below mean nothing.");
        Console.WriteLine(fit.Describe());
        foreach (var (name, shape) in new[] { ("TinyLlama-1.1B", CalibrationCost.TinyLlamaShape(2048)), ("LLaMA-7B", CalibrationCost.Llama7BShape) })
            foreach (var (label, knobs) in new[] { ("this run's setting", fit.Settings),
                         ("fpq-fast", CostSetting.Of(QuantPresets.Get("fpq-fast:4/4/4"))),
                         ("paper setting", CalibrationCost.PaperSetting),
                         ("paper setting, E/W/A 4/4/8", CalibrationCost.PaperSetting with { ActivationBits = 8 }),
                         ("paper setting, E/W/A 8/8/8", CalibrationCost.PaperSetting with { EmbeddingBits = 8, WeightBits = 8, ActivationBits = 8 }) })
                Console.WriteLine($"{name} at {label}: {fit.Model.Project(shape, knobs)}");
        // Checks: points measured at another setting than the curve's, against what this fit and the kit's constants project.
        foreach (var check in data["checks"]?.AsArray().Select(c => c!.AsObject()) ?? [])
        {
            var shape = CalibrationCost.TinyLlamaShape((int)check["hidden"]!) with { Layers = (int)check["layers"]! };
            int tokens = (int)check["tokens"]!;
            // Only the token count enters the projection; the data does not record the windows' split.
            var knobs = CostSetting.Of(QuantPresets.Get(ConfigOf(check))) with
            {
                Samples = 1, SequenceLength = tokens, Steps = (int)check["steps"]!, Rounds = (int)check["rounds"]!,
            };
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"check ({check["commit"]}): hidden {shape.HiddenSize}, {Plural(shape.Layers, "layer")}, {tokens} tokens, k = {knobs.Steps}, {Plural(knobs.Rounds, "round")}, " +
                $"E/W/A {knobs.Widths}: measured {(double)check["cpu_seconds"]! / 60:F1} min of CPU; " +
                $"this fit projects {fit.Model.Project(shape, knobs).Seconds / 60:F1} min, CalibrationCost.Fitted {CalibrationCost.Fitted.Project(shape, knobs).Seconds / 60:F1} min"));
        }
        Console.WriteLine("(checks of older commits ran older, slower code, often on other machines: each one's note in the data says which)");

        var plot = Plot(measured, fit);
        if (FigureExport.PngAvailable)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(figure))!);
            FigureExport.SavePng(plot, figure);
            Console.WriteLine($"figure: {figure}");
        }
        else Console.WriteLine($"no figure: {FigureExport.PngUnavailableReason}");
        return 0;
    }

    /// <summary>
    /// Runs every point in a child process of its own and returns the data with the setting of the size series. The
    /// "checks" of the data already at <paramref name="previousPath"/> (points at other settings, run with
    /// <c>--point</c> and added by hand) are carried over: a new curve is checked against the same measurements.
    /// </summary>
    private static (JsonObject Data, CostSetting Setting) Measure(bool quick, string previousPath)
    {
        var reference = CalibrationCost.Reference;
        int samples = quick ? 2 : reference.Samples, length = quick ? 64 : reference.SequenceLength;
        int steps = quick ? 4 : reference.Steps, rounds = quick ? 1 : reference.Rounds;
        var setting = new CostSetting(samples, length, steps, rounds);
        int[] hiddens = quick ? [64, 128] : [256, 512, 1024, 2048];
        // Whole models where a run takes minutes at most, single decoder layers beyond (the fit is per layer either way).
        int LayersAt(int hidden) => quick ? 2 : hidden <= 512 ? CalibrationCost.TinyLlamaShape(hidden).Layers : 1;
        var points = hiddens.Select(h => new Point("size", h, LayersAt(h), samples, length, steps, rounds)).ToList();
        int small = hiddens[0], smallLayers = quick ? 1 : 2;
        points.Add(new("tokens", small, smallLayers, samples * 2, length, steps, rounds));
        points.Add(new("tokens", small, smallLayers, samples, length, steps, rounds));
        // The reference runs the paper's k, which scores 4-bit weights through their code changes (WeightCodeSweep); the
        // candidates point runs fpq-fast's k, which keeps the dense products, so the exponent spans the two presets.
        points.Add(new("candidates", small, smallLayers, samples, length, quick ? steps * 2 : QuantPresets.FastSearch.Steps, rounds));
        points.Add(new("rounds", small, smallLayers, samples, length, steps, rounds + 2));
        // The width factors grow with the layer (the 8-bit sweep's dense work scales with its outputs), so they are measured
        // at two sizes against the 4-bit points above of the same size and layers: the knob series' base and a size point,
        // 1024 wide, the widest whose 8-bit runs take minutes.
        int wider = quick ? hiddens[^1] : 1024;
        foreach (var (hidden, layers) in new[] { (small, smallLayers), (wider, LayersAt(wider)) })
            foreach (string wide in WideConfigs)
                points.Add(new("width", hidden, layers, samples, length, steps, rounds, wide));

        Console.WriteLine($"cost curve: {FittedConfig}, {points.Count} points; {Environment.ProcessorCount} threads; {Provenance.Current}");
        double fmaPeak = GemmBenchmarks.MeasuredPeak.Value;
        var measured = new JsonArray();
        foreach (var point in points)
        {
            string loadBefore = LoadAverage();
            var node = RunChild(point);
            node["series"] = point.Series;
            node["load_average_before"] = loadBefore;
            node["load_average_after"] = LoadAverage();
            measured.Add(node);
            Console.WriteLine($"  {point.Series,-10} {point.Config,-10} hidden {point.Hidden,5}, {Plural(point.Layers, "layer"),9}, {point.Samples} × {point.SequenceLength} tokens, k = {point.Steps}, " +
                $"{Plural(point.Rounds, "round")}: {(double)node["wall_seconds"]!,8:F1} s wall, peak RSS {(long)node["peak_rss_bytes"]! / 1e9,6:F2} GB  (load {loadBefore})");
        }

        var data = new JsonObject
        {
            ["command"] = "dotnet run -c Release --project benchmarks/LlmFp4.Kit.Benchmarks -- cost-curve" + (quick ? " --quick" : ""),
            ["provenance"] = JsonSerializer.SerializeToNode(Provenance.Current),
            ["machine"] = Machine(),
            // Machines that print the same model name ran the same points up to twice as fast; the peak tells them apart.
            ["fma_peak_gflops"] = Math.Round(fmaPeak),
            ["threads"] = Environment.ProcessorCount,
            ["config"] = FittedConfig,
            ["setting"] = JsonSerializer.SerializeToNode(setting),
            ["points"] = measured,
        };
        if (File.Exists(previousPath) && JsonNode.Parse(File.ReadAllText(previousPath))?["checks"] is { } checks)
            data["checks"] = checks.DeepClone();
        return (data, setting);
    }

    /// <summary>
    /// <c>--from FILE</c>: the points of an earlier run, fitted again (its provenance, machine and load averages kept), so
    /// a change to the fit or the figure needs no new measurement.
    /// </summary>
    private static (JsonObject Data, CostSetting Setting) Refit(string path)
    {
        var data = JsonNode.Parse(File.ReadAllText(path))?.AsObject() ?? throw new InvalidDataException($"{path}: empty cost-curve data.");
        var setting = (data["setting"] ?? data["fit"]?["Setting"])?.Deserialize<CostSetting>()
            ?? throw new InvalidDataException($"{path}: no setting recorded.");
        data["setting"] = JsonSerializer.SerializeToNode(setting);
        return (data, setting);
    }

    private static string Plural(int count, string noun) => $"{count} {noun}{(count == 1 ? "" : "s")}";

    private static JsonObject RunChild(Point point)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, UseShellExecute = false };
        // Under `dotnet run` the process is the apphost; under `dotnet X.dll` it is dotnet and needs the assembly path.
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet") start.ArgumentList.Add(typeof(CostCurveBenchmark).Assembly.Location);
        foreach (var arg in new[] { "cost-curve", "--point", point.Hidden.ToString(CultureInfo.InvariantCulture), point.Layers.ToString(CultureInfo.InvariantCulture),
                     point.Samples.ToString(CultureInfo.InvariantCulture), point.SequenceLength.ToString(CultureInfo.InvariantCulture),
                     point.Steps.ToString(CultureInfo.InvariantCulture), point.Rounds.ToString(CultureInfo.InvariantCulture), point.Config })
            start.ArgumentList.Add(arg);
        using var child = Process.Start(start)!;
        string output = child.StandardOutput.ReadToEnd();
        child.WaitForExit();
        string? line = output.Split('\n').LastOrDefault(l => l.StartsWith('{'));
        if (child.ExitCode != 0 || line is null)
            throw new InvalidOperationException($"cost-curve point {point} failed (exit code {child.ExitCode}): {output}");
        return JsonNode.Parse(line)!.AsObject();
    }

    /// <summary>One calibration in this process: a random model of the given size, random token windows, the point's config (fpq:4/4/4 by default).</summary>
    private static int RunPoint(string[] args)
    {
        int Arg(int i) => int.Parse(args[i], CultureInfo.InvariantCulture);
        var shape = CalibrationCost.TinyLlamaShape(Arg(0)) with { Layers = Arg(1) };
        string preset = args.Length > 6 ? args[6] : FittedConfig;
        var config = QuantPresets.Get(preset).WithSearch(new SearchSettings { Steps = Arg(4), Rounds = Arg(5) }) with
        {
            Calibration = new CalibrationDataSettings { Samples = Arg(2), SequenceLength = Arg(3) },
        };
        var model = LlamaModel.CreateRandom(shape.ToLlamaConfig(), seed: 1);
        var random = new Random(2);
        var stream = new int[config.Calibration.Samples * config.Calibration.SequenceLength * 2];
        for (int i = 0; i < stream.Length; i++) stream[i] = random.Next(shape.VocabSize);
        var set = CalibrationSet.Sample(stream, config.Calibration, "random token stream");

        var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        var result = Calibrator.Run(model, config, set);
        double wall = clock.Elapsed.TotalSeconds;
        process.Refresh();
        var groups = InputGroup.ForModel(model, config.QuantizeLmHead).Select(g => g.Name).ToList();
        var layerGroups = groups.Where(name => name.StartsWith("model.layers.", StringComparison.Ordinal)).ToList();
        double Sum(IEnumerable<string> names, string? stage = null) => names.Sum(name => result.Timings.GetValueOrDefault(CalibrationContext.GroupTiming(name, stage)));
        string[] head = ["lm_head_input"];
        var node = new JsonObject
        {
            ["config"] = preset,
            ["hidden"] = shape.HiddenSize,
            ["intermediate"] = shape.IntermediateSize,
            ["layers"] = shape.Layers,
            ["heads"] = shape.Heads,
            ["kv_heads"] = shape.KeyValueHeads,
            ["vocab"] = shape.VocabSize,
            ["parameters"] = shape.Parameters,
            ["layer_parameters"] = shape.LayerParameters,
            ["tokens"] = set.TokenCount,
            ["steps"] = Arg(4),
            ["rounds"] = Arg(5),
            ["wall_seconds"] = wall,
            ["cpu_seconds"] = (process.TotalProcessorTime - cpu).TotalSeconds,
            ["capture_seconds"] = result.Timings["capture"],
            ["decoder_layer_seconds"] = Sum(layerGroups) / shape.Layers,
            ["lm_head_seconds"] = Sum(head),
            // The part of each that does not grow with the tokens.
            ["decoder_layer_weight_candidate_seconds"] = Sum(layerGroups, SearchStages.WeightCandidates) / shape.Layers,
            ["lm_head_weight_candidate_seconds"] = Sum(head, SearchStages.WeightCandidates),
            ["embedding_seconds"] = result.Timings["embedding"],
            // The search's parts over all groups (SearchStages), so a point shows where its time went.
            ["search_seconds"] = new JsonObject(new[] { SearchStages.Grams, SearchStages.WeightCandidates, SearchStages.ActivationSweep }
                .Select(stage => KeyValuePair.Create(stage, (JsonNode?)result.Timings.GetValueOrDefault(stage)))),
            ["peak_rss_bytes"] = PeakRss(),
            ["model_bytes"] = 4L * shape.Parameters,
            ["capture_bytes"] = 4L * set.TokenCount * shape.StreamedFeatures,
        };
        Console.WriteLine(node.ToJsonString());
        return 0;
    }

    /// <summary>VmHWM of /proc/self/status: this process's peak resident set, in bytes.</summary>
    private static long PeakRss() =>
        long.Parse(File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal))[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;

    private static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";

    private static string Machine()
    {
        string cpu = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown"
            : "unknown";
        return $"{cpu}, {Environment.ProcessorCount} threads, {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1L << 30)} GiB";
    }

    private static Figure Plot(JsonArray measured, CostFit fit)
    {
        static double LayerCpuSeconds(JsonNode p) => CpuSeconds(p, "decoder_layer_seconds");
        var sizes = measured.Where(p => (string)p!["series"]! == "size").Select(p => p!).ToList();
        double[] layerParams = [.. sizes.Select(p => (double)(long)p["layer_parameters"]!)];
        double[] paramsTotal = [.. sizes.Select(p => (double)(long)p["parameters"]!)];
        double[] peakGb = [.. sizes.Select(p => (long)p["peak_rss_bytes"]! / 1e9)];
        var grid = Enumerable.Range(0, 41).Select(i => layerParams[0] * Math.Pow(4 * CalibrationCost.Llama7BShape.LayerParameters / layerParams[0], i / 40.0)).ToArray();
        var model = fit.Model;
        var knobs = fit.Settings;
        var figure = Figure.Subplots(1, 2)
            .WithTitle($"FPQ calibration cost, {knobs.Samples} × {knobs.SequenceLength} tokens, k = {knobs.Steps}, {knobs.Rounds} round(s) ({Environment.ProcessorCount} threads)")
            .Add(Trace.Scatter(layerParams, sizes.Select(LayerCpuSeconds).ToArray(), $"measured, {FittedConfig}").WithMarker(size: 10), 1, 1)
            .Add(Trace.Line(grid, grid.Select(model.LayerSeconds).ToArray(), $"fit ({model.DecoderLayer}) + weight candidates"), 1, 1)
            .Add(Trace.Scatter(layerParams, sizes.Select(p => CpuSeconds(p, "decoder_layer_weight_candidate_seconds")).ToArray(), "measured, weight candidates alone").WithMarker(size: 8), 1, 1)
            .Add(Trace.Line(grid, grid.Select(p => model.LayerWeightCandidates.At(p)).ToArray(), $"fit, weight candidates {model.LayerWeightCandidates}"), 1, 1);
        // The width series: its decoder layers beside the 4-bit law times the width factors.
        foreach (var (config, factor) in new (string, Func<double, double>)[]
                 {
                     (WideConfigs[0], p => model.Widths.LayerActivations.At(p)),
                     (WideConfigs[1], p => model.Widths.LayerActivations.At(p) * model.Widths.LayerWeights.At(p)),
                 })
        {
            var wide = measured.Where(p => (string)p!["series"]! == "width" && ConfigOf(p!) == config).Select(p => p!).ToList();
            figure = figure
                .Add(Trace.Scatter(wide.Select(p => (double)(long)p["layer_parameters"]!).ToArray(), wide.Select(LayerCpuSeconds).ToArray(), $"measured, {config}").WithMarker(size: 10), 1, 1)
                .Add(Trace.Line(grid, grid.Select(p => model.LayerSeconds(p) * factor(p)).ToArray(), $"fit × width factors, {config}"), 1, 1);
        }
        return figure
            .Add(Trace.Scatter(paramsTotal, peakGb, $"peak RSS of the run, {FittedConfig}").WithMarker(size: 10), 1, 2)
            .WithXAxis("parameters per decoder layer", log: true, 1, 1).WithYAxis("CPU seconds per decoder layer", log: true, 1, 1)
            .WithXAxis("parameters of the calibrated model", log: true, 1, 2).WithYAxis("peak RSS (GB)", log: true, 1, 2)
            .WithSize(1200, 500);
    }
}

/// <summary>
/// Fits a <see cref="CostModel"/> to the cost curve's points: the power laws over the "size" series (capture seconds
/// per token against parameters; decoder-layer and lm_head seconds, each as its weight candidates and the rest, and the
/// embedding's against their parameters; the workspace against parameters), the knob exponents from the smallest size's
/// variations against its base point (the tokens' on the decoder layer less its weight candidates, the others' on the
/// whole layer).
/// </summary>
internal sealed record CostFit(CostModel Model, CostSetting Settings)
{
    public static CostFit From(JsonArray points, CostSetting settings)
    {
        var all = points.Select(p => p!.AsObject()).ToList();
        var sizes = all.Where(p => (string)p["series"]! == "size").ToList();
        double D(JsonObject p, string key) => (double)p[key]!;
        double L(JsonObject p, string key) => (long)p[key]!;
        PowerLaw Law(IEnumerable<JsonObject> over, Func<JsonObject, double> x, Func<JsonObject, double> y) =>
            PowerLaw.Fit([.. over.Select(x)], [.. over.Select(y)]);
        double HeadParameters(JsonObject p) => (double)(int)p["hidden"]! * (int)p["vocab"]!;
        if (all.Any(p => p["decoder_layer_weight_candidate_seconds"] is null))
            throw new InvalidDataException("cost-curve data: points without the weight candidates' share of the decoder layer and lm_head (recorded since the cost model splits them off); measure the curve again.");
        double Layer(JsonObject p) => CpuSeconds(p, "decoder_layer_seconds");
        double LayerCandidates(JsonObject p) => CpuSeconds(p, "decoder_layer_weight_candidate_seconds");
        double LayerRest(JsonObject p) => Layer(p) - LayerCandidates(p);
        double HeadCandidates(JsonObject p) => CpuSeconds(p, "lm_head_weight_candidate_seconds");

        // The knob series share one base point: the smallest size at the measured setting, a few layers.
        var varied = all.Where(p => (string)p["series"]! != "size").ToList();
        var basePoint = varied.First(p => ConfigOf(p) == FittedConfig
            && (int)p["tokens"]! == settings.Tokens && (int)p["steps"]! == settings.Steps && (int)p["rounds"]! == settings.Rounds);
        double Exponent(string series, string knob, Func<JsonObject, double> seconds)
        {
            var p = varied.First(v => (string)v["series"]! == series && v != basePoint);
            return Math.Log(seconds(p) / seconds(basePoint)) / Math.Log(D(p, knob) / D(basePoint, knob));
        }
        // Each width point against the next narrower config at the same size, layers and setting: W4A8 against W4A4, W8A8 (and
        // the 8-bit embedding) against W4A8.
        var wide = all.Where(p => (string)p["series"]! == "width").ToList();
        if (wide.Count == 0) throw new InvalidDataException("cost-curve data: no width series (8-bit points); measure the curve again.");
        JsonObject Narrower(JsonObject p)
        {
            string config = ConfigOf(p), narrower = config == WideConfigs[0] ? FittedConfig : WideConfigs[0];
            return all.FirstOrDefault(q => ConfigOf(q) == narrower && new[] { "hidden", "layers", "tokens", "steps", "rounds" }.All(key => (int)q[key]! == (int)p[key]!))
                ?? throw new InvalidDataException($"cost-curve data: the width point at {config}, hidden {p["hidden"]}, has no {narrower} point of the same size and setting.");
        }
        PowerLaw Factor(string config, Func<JsonObject, double> parameters, string stage) =>
            Law(wide.Where(p => ConfigOf(p) == config), parameters, p => CpuSeconds(p, stage) / CpuSeconds(Narrower(p), stage));
        string activations = WideConfigs[0], all8 = WideConfigs[1];
        var widths = new WidthFactors(
            Factor(activations, p => L(p, "layer_parameters"), "decoder_layer_seconds"),
            Factor(all8, p => L(p, "layer_parameters"), "decoder_layer_seconds"),
            Factor(activations, HeadParameters, "lm_head_seconds"),
            Factor(all8, HeadParameters, "lm_head_seconds"),
            Factor(all8, HeadParameters, "embedding_seconds"));
        var model = new CostModel(settings, Environment.ProcessorCount,
            Law(sizes, p => L(p, "parameters"), p => CpuSeconds(p, "capture_seconds") / (int)p["tokens"]!),
            Law(sizes, p => L(p, "layer_parameters"), LayerRest),
            Law(sizes, p => L(p, "layer_parameters"), LayerCandidates),
            Law(sizes, HeadParameters, p => CpuSeconds(p, "lm_head_seconds") - HeadCandidates(p)),
            Law(sizes, HeadParameters, HeadCandidates),
            Law(sizes, HeadParameters, p => CpuSeconds(p, "embedding_seconds")),
            Exponent("tokens", "tokens", LayerRest), Exponent("candidates", "steps", Layer), Exponent("rounds", "rounds", Layer),
            Law(sizes, p => L(p, "parameters"), p => Math.Max(1, L(p, "peak_rss_bytes") - L(p, "model_bytes") - L(p, "capture_bytes"))),
            widths);
        return new CostFit(model, settings);
    }

    public JsonNode ToJson() => JsonSerializer.SerializeToNode(Model, new JsonSerializerOptions { IncludeFields = true })!;

    /// <summary>The fit as CalibrationCost.Fitted writes it, and what it says per hidden size.</summary>
    public string Describe()
    {
        static string Law(PowerLaw law) => string.Create(CultureInfo.InvariantCulture, $"new({law.Coefficient:G4}, {law.Exponent:F4})");
        var m = Model;
        int[] hiddens = [256, 512, 1024, 2048, 4096];
        string growth = string.Join(", ", hiddens.Zip(hiddens.Skip(1)).Select(h =>
        {
            double Layer(int hidden) => m.LayerSeconds(CalibrationCost.TinyLlamaShape(hidden).LayerParameters);
            return string.Create(CultureInfo.InvariantCulture, $"{h.First}→{h.Second}: hidden^{Math.Log(Layer(h.Second) / Layer(h.First)) / Math.Log(2):F2}");
        }));
        return string.Create(CultureInfo.InvariantCulture, $"""
            fit at {Settings} (CalibrationCost.Fitted):
                CapturePerToken: {Law(m.CapturePerToken)},
                DecoderLayer: {Law(m.DecoderLayer)},
                LayerWeightCandidates: {Law(m.LayerWeightCandidates)},
                LmHead: {Law(m.LmHead)},
                HeadWeightCandidates: {Law(m.HeadWeightCandidates)},
                Embedding: {Law(m.Embedding)},
                TokenExponent: {m.TokenExponent:F3}, CandidateExponent: {m.CandidateExponent:F3}, RoundExponent: {m.RoundExponent:F3},
                Workspace: {Law(m.Workspace)},
                Widths: new({Law(m.Widths.LayerActivations)}, {Law(m.Widths.LayerWeights)}, {Law(m.Widths.HeadActivations)}, {Law(m.Widths.HeadWeights)}, {Law(m.Widths.Embedding)})
            per decoder layer against hidden size (TinyLlama proportions), the fit's local growth: {growth}
            """);
    }
}
