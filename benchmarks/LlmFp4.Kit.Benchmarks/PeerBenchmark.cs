using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Loading;
using LlmFp4.Kit.Models.Tokenizers;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Benchmarks;

/// <summary>
/// <c>dotnet run -c Release --project benchmarks/LlmFp4.Kit.Benchmarks -- peers [--model DIR] [--repeats N]</c>: the kit
/// and its peers on the same weights and thread count, in one run, with kit/peer ratios. The model (default: the
/// default model) is written as GGUF F32, F16 and Q4_0 with its tokenizer, and llama.cpp (node-llama-cpp, see
/// benchmarks/peers/README.md) runs the batch forward, KV-cache generation and log-probabilities of a text on each; the
/// PyTorch CPU forward and the reference fake-quant formula run on the same safetensors. A peer that is not installed
/// is skipped with the command that installs it.
/// </summary>
internal static class PeerBenchmark
{
    private const int Sequences = 8, Length = 256, Prompt = 32, Generated = 64;

    public static int Run(string[] args)
    {
        var options = VerbOptions.Parse(args, [], ["--model", "--repeats"]);
        string root = RepositoryRoot();
        string modelDir = options["--model"] ?? Path.Combine(root, "data", "models", "pdllama-7m");
        // Best of ten, for every program alike: on a shared machine best of three often caught none of a program's quiet
        // moments (the kit's forward read 9,806 tokens/s with three repeats and 17,742 with ten, minutes apart).
        int repeats = options.Number("--repeats", 10);
        int threads = Environment.ProcessorCount;
        string work = Directory.CreateTempSubdirectory("llmfp4-peers-").FullName;
        try
        {
            Console.WriteLine($"model {modelDir}; {threads} threads; best of {repeats}; {Provenance.Current}");
            Console.WriteLine($"load average {File.ReadAllText("/proc/loadavg").Trim()}");
            using var checkpoint = CheckpointLoader.Open(modelDir);
            var model = LlamaModel.FromCheckpoint(checkpoint);
            var tokenizer = BpeTokenizer.Load(Path.Combine(modelDir, "tokenizer.json"));
            var config = model.Config;
            var weights = model.NamedWeights().ToDictionary(w => w.Name, w => w.Tensor.Data);

            var random = new Random(1);
            int[][] batch = [.. Enumerable.Range(0, Sequences).Select(_ => Enumerable.Range(0, Length).Select(_ => random.Next(config.VocabSize)).ToArray())];
            int[] prompt = [.. Enumerable.Range(0, Prompt).Select(_ => random.Next(config.VocabSize))];
            string text = File.ReadAllText(Path.Combine(root, "data", "corpus", "test.txt"))[..4000];
            int[] stream = tokenizer.Encode(text);
            int[] logprobTokens = stream[..Math.Min(64, stream.Length)];

            var gguf = new Dictionary<string, string>
            {
                ["F32"] = Path.Combine(work, "model-f32.gguf"),
                ["F16"] = Path.Combine(work, "model-f16.gguf"),
                ["Q4_0"] = Path.Combine(work, "model-q4_0.gguf"),
            };
            GgufWriter.SaveLlama(gguf["F32"], config, weights, DType.F32, tokenizer);
            GgufWriter.SaveLlama(gguf["F16"], config, weights, DType.F16, tokenizer);
            GgufWriter.SaveLlama(gguf["Q4_0"], config, weights, DType.F32, tokenizer, GgmlType.Q4_0);
            string workFile = Path.Combine(work, "work.json");
            File.WriteAllText(workFile, JsonSerializer.Serialize(new
            {
                threads, repeats, gguf, forwardBatch = batch, prompt, generate = Generated, logprobTokens,
                safetensors = Path.Combine(modelDir, "model.safetensors"), config = Path.Combine(modelDir, "config.json"),
            }));

            var kit = new Dictionary<string, double>();
            var logits = new float[Sequences * Length * config.VocabSize];
            kit["forward"] = Sequences * Length / Best(repeats, () => model.Forward(batch, logits));
            kit["generate F32"] = Generated / Best(repeats, () => Generate(model, prompt));
            int[] kitGenerated = Generate(model, prompt);
            string f16Folder = Path.Combine(work, "hf-f16");
            HfCheckpointWriter.Save(f16Folder, config, weights, DType.F16);
            using (var f16 = CheckpointLoader.Open(f16Folder))
            {
                var mapped = LlamaModel.FromCheckpoint(f16, keepStoredWeights: true);
                kit["generate F16-mapped"] = Generated / Best(repeats, () => Generate(mapped, prompt));
            }
            var int4 = model.Clone();
            Calibrator.Run(int4, QuantPresets.Get("int4-w4a16"), CalibrationSet.Sample(stream, new CalibrationDataSettings { Samples = 4, SequenceLength = 64, Seed = 0 }))
                .Apply(int4);
            kit["generate INT4 packed"] = Generated / Best(repeats, () => Generate(int4, prompt));
            kit["fake-quant E2M1 weights"] = FakeQuantAll(model, repeats);
            float[] kitLogprobs = model.TokenLogProbs([logprobTokens])[0];

            var llama = RunPeer(root, "node", ["llama-peer.mjs", workFile], "cd benchmarks/peers && npm ci");
            var torch = RunPeer(root, "/usr/bin/python3", ["torch-peer.py", workFile], "apt-get install python3-torch libopenblas0-pthread");

            Console.WriteLine();
            Console.WriteLine($"{"measure",-34} {"kit",10} {"peer",10} {"kit/peer",9}  peer");
            void Row(string measure, double mine, double? theirs, string peer) =>
                Console.WriteLine($"{measure,-34} {mine,10:N0} {(theirs is double t ? t.ToString("N0", CultureInfo.InvariantCulture) : "-"),10} {(theirs is double u ? (mine / u).ToString("F2", CultureInfo.InvariantCulture) : "-"),9}  {peer}");
            double? Peer(JsonNode? node, string file, string key) => node?["files"]?[file]?[key]?.GetValue<double>();
            Row("forward 8×256, tokens/s", kit["forward"], Peer(llama, "F32", "forwardTokensPerSecond"), "llama.cpp F32");
            Row("forward 8×256, tokens/s", kit["forward"], torch?["forwardTokensPerSecond"]?.GetValue<double>(), "PyTorch CPU float32");
            string Threads(string file) => Peer(llama, file, "generateThreads") is double t ? $" ({t:F0} thread{(t == 1 ? "" : "s")}, its faster setting)" : "";
            Row("generate 32+64, F32, tokens/s", kit["generate F32"], Peer(llama, "F32", "generateTokensPerSecond"), "llama.cpp F32" + Threads("F32"));
            Row("generate 32+64, F16-mapped, tok/s", kit["generate F16-mapped"], Peer(llama, "F16", "generateTokensPerSecond"), "llama.cpp F16" + Threads("F16"));
            Row("generate 32+64, INT4 packed, tok/s", kit["generate INT4 packed"], Peer(llama, "Q4_0", "generateTokensPerSecond"), "llama.cpp Q4_0" + Threads("Q4_0"));
            Row("fake-quant E2M1, M weights/s", kit["fake-quant E2M1 weights"] / 1e6, torch?["fakeQuantWeightsPerSecond"]?.GetValue<double>() / 1e6, "reference formula in PyTorch");
            if (llama?["files"]?["F32"]?["generated"] is JsonArray peerGenerated)
            {
                int same = kitGenerated.Zip(peerGenerated, (a, b) => a == b!.GetValue<int>()).TakeWhile(equal => equal).Count();
                Console.WriteLine($"greedy continuation, kit F32 vs llama.cpp F32: the first {same} of {Generated} tokens agree");
            }
            if (llama?["files"]?["F32"]?["logprobs"] is JsonArray peerLogprobs)
            {
                double worst = kitLogprobs.Select((v, i) => Math.Abs(v - peerLogprobs[i]!.GetValue<double>())).Max();
                Console.WriteLine($"log-probs of {kitLogprobs.Length} tokens of data/corpus/test.txt, kit vs llama.cpp F32: max |Δ| = {worst:G3} nats");
            }
            if (torch?["logprobs"] is JsonArray torchLogprobs)
            {
                double worst = kitLogprobs.Select((v, i) => Math.Abs(v - torchLogprobs[i]!.GetValue<double>())).Max();
                Console.WriteLine($"log-probs of the same tokens, kit vs PyTorch: max |Δ| = {worst:G3} nats");
            }
            if (torch?["blas"] is JsonArray blas)
            {
                string[] libraries = [.. blas.Select(b => b!.GetValue<string>())];
                // Debian keeps the reference BLAS in .../blas/; OpenBLAS, BLIS and MKL register folders of their own.
                bool reference = libraries.Any(path => Path.GetFileName(Path.GetDirectoryName(path)) == "blas");
                Console.WriteLine(reference
                    ? $"warning: PyTorch runs Debian's reference BLAS ({string.Join(", ", libraries)}), so its forward is not a fair peer: apt-get install libopenblas0-pthread"
                    : $"PyTorch's BLAS: {(libraries.Length == 0 ? "no libblas.so loaded" : string.Join(", ", libraries))}");
            }
            Console.WriteLine($"load average {File.ReadAllText("/proc/loadavg").Trim()}");
            return 0;
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>The greedy continuation of <paramref name="prompt"/>: <see cref="Generated"/> tokens with the KV cache.</summary>
    private static int[] Generate(LlamaModel model, int[] prompt)
    {
        var cache = model.CreateCache(Prompt + Generated);
        var logits = new float[model.VocabSize];
        var tokens = new int[Generated];
        model.Decode(prompt, cache, logits);
        for (int i = 0; i < Generated; i++)
        {
            tokens[i] = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits);
            model.Decode([tokens[i]], cache, logits);
        }
        return tokens;
    }

    /// <summary>Weights per second of E2M1 fake quantization, one min-max scale per output row, over every linear weight.</summary>
    private static double FakeQuantAll(LlamaModel model, int repeats)
    {
        var layers = model.Linears.Select(l => (l.Weight, Rows: l.OutFeatures, Cols: l.InFeatures)).ToArray();
        var destinations = layers.Select(l => new float[l.Weight.Length]).ToArray();
        var scales = layers.Select(l => new float[l.Rows]).ToArray();
        long count = layers.Sum(l => (long)l.Weight.Length);
        double seconds = Best(repeats, () =>
        {
            for (int i = 0; i < layers.Length; i++)
            {
                var (weight, rows, cols) = layers[i];
                FakeQuant.AbsMax(weight, rows, cols, Granularity.PerRow, scales[i]);
                System.Numerics.Tensors.TensorPrimitives.Divide(scales[i], (float)FpFormat.E2M1.MaxValue, scales[i]);
                FakeQuant.QuantizeMatrix(weight, rows, cols, FpFormat.E2M1, Granularity.PerRow, scales[i], destinations[i]);
            }
        });
        return count / seconds;
    }

    /// <summary>
    /// The shortest of <paramref name="repeats"/> runs after a warm-up of at least three runs and two seconds: .NET compiles a
    /// hot method again with full optimization only after its first calls and a background delay, so timing straight
    /// after one warm-up run measured partly unoptimized code (the forward at about half its speed).
    /// </summary>
    private static double Best(int repeats, Action action)
    {
        var warmup = Stopwatch.StartNew();
        for (int i = 0; i < 3 || warmup.Elapsed.TotalSeconds < 2; i++) action();
        double best = double.MaxValue;
        for (int i = 0; i < repeats; i++)
        {
            var clock = Stopwatch.StartNew();
            action();
            best = Math.Min(best, clock.Elapsed.TotalSeconds);
        }
        return best;
    }

    private static JsonNode? RunPeer(string root, string program, string[] arguments, string install)
    {
        var start = new ProcessStartInfo(program) { WorkingDirectory = Path.Combine(root, "benchmarks", "peers"), RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        try
        {
            using var process = Process.Start(start)!;
            var error = process.StandardError.ReadToEndAsync();
            string output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode == 0) return JsonNode.Parse(output.Trim().Split('\n')[^1]);
            Console.WriteLine($"{program} {string.Join(' ', arguments)} failed ({process.ExitCode}); install with `{install}`:\n{error.Result.Trim()}");
        }
        catch (System.ComponentModel.Win32Exception)
        {
            Console.WriteLine($"{program} not found; install with `{install}`.");
        }
        return null;
    }

    internal static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "LlmFp4Kit.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException("run the benchmark from inside the repository (LlmFp4Kit.sln not found above the binary).");
    }
}
