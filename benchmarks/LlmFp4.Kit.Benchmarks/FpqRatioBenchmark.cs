using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Models.Loading;
using LlmFp4.Kit.Models.Tokenizers;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Benchmarks;

/// <summary>
/// <c>dotnet run -c Release --project benchmarks/LlmFp4.Kit.Benchmarks -- fpq-ratio [--model DIR] [--group NAME]
/// [--samples N] [--steps K] [--rounds R]</c>: the fast FPQ W4A4 search (<see cref="FpqSearch"/>) and its reference twin
/// (<see cref="ReferenceFpqSearch"/>, a full product per candidate) on one captured input group of a model, at equal
/// settings, in one process: process CPU time and wall time of each, their ratio, and both choices (they must agree).
/// The reference costs a product over all tokens per candidate, so it runs on a subset (default 2 windows of 512 tokens,
/// k = 20, 1 round); the fast search's cost grows more slowly with tokens and candidates than the reference's.
/// </summary>
internal static class FpqRatioBenchmark
{
    public static int Run(string[] args)
    {
        var options = VerbOptions.Parse(args, [], ["--model", "--group", "--steps", "--rounds", "--samples"]);
        string root = PeerBenchmark.RepositoryRoot();
        string modelDir = options["--model"] ?? Path.Combine(root, "data", "models", "pdllama-7m");
        string groupName = options["--group"] ?? "model.layers.2.self_attn.qkv_input";
        var settings = new SearchSettings { Steps = options.Number("--steps", 20), Rounds = options.Number("--rounds", 1) };
        var data = new CalibrationDataSettings { Samples = options.Number("--samples", 2), SequenceLength = 512 };

        var model = CheckpointLoader.LoadModel(modelDir);
        var tokenizer = BpeTokenizer.Load(Path.Combine(modelDir, "tokenizer.json"));
        var set = CalibrationSet.FromTextFile(Path.Combine(root, "data", "corpus", "train.txt"), tokenizer, data);
        var groups = InputGroup.ForModel(model, true);
        ActivationCapture.Run(model, set, groups);
        var group = groups.FirstOrDefault(g => g.Name == groupName)
            ?? throw new ArgumentException($"--group {groupName}: no such input group; the model has {string.Join(", ", groups.Select(g => g.Name))}.");

        var weights = QuantSpec.Fp(4, Granularity.PerRow);
        var activations = QuantSpec.Fp(4, Granularity.PerColumn);
        Console.WriteLine($"{group.Name}: {group.Tokens} tokens x {group.Features} features, {group.Layers.Count} layers; k = {settings.Steps}, " +
            $"{settings.Rounds} round(s); {Environment.ProcessorCount} threads; {Provenance.Current}");
        Console.WriteLine($"load average {File.ReadAllText("/proc/loadavg").Trim()}");
        // One untimed run first: .NET compiles hot loops with full optimization only after their first calls, and the fast
        // search is short enough that a cold run times mostly unoptimized code (the reference runs long enough not to care).
        new FpqSearch(group, weights, activations, settings, preShifted: true).Run();
        var fast = Measure(() => new FpqSearch(group, weights, activations, settings, preShifted: true).Run());
        var reference = Measure(() => ReferenceFpqSearch.Run(group, weights, activations, settings, preShifted: true));
        Console.WriteLine($"fast:      CPU {fast.Cpu,8:F2} s, wall {fast.Wall,8:F2} s; {fast.Choices}");
        Console.WriteLine($"reference: CPU {reference.Cpu,8:F2} s, wall {reference.Wall,8:F2} s; {reference.Choices}");
        Console.WriteLine($"reference / fast: CPU {reference.Cpu / fast.Cpu:F1}x, wall {reference.Wall / fast.Wall:F1}x; same choices: {fast.Choices == reference.Choices}");
        Console.WriteLine($"load average {File.ReadAllText("/proc/loadavg").Trim()}");
        return fast.Choices == reference.Choices ? 0 : 1;
    }

    private static (double Cpu, double Wall, string Choices) Measure(Func<IReadOnlyList<LayerSearchResult>> search)
    {
        var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        var results = search();
        double wall = clock.Elapsed.TotalSeconds;
        process.Refresh();
        // Formats and activation bias printed; every row's weight bias compared too.
        string choices = string.Join(" ", results.Select(r =>
            $"{r.Layer.Name}: {r.WeightFormat}/{r.ActivationFormat}/{r.ActivationBias?.ToString("R", CultureInfo.InvariantCulture)}" +
            $" (weight biases sha256 {Digest(r.WeightBiases ?? [])})"));
        return ((process.TotalProcessorTime - cpu).TotalSeconds, wall, choices);
    }

    private static string Digest(double[] values) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join(",", values.Select(v => v.ToString("R", CultureInfo.InvariantCulture))))))[..12];
}
