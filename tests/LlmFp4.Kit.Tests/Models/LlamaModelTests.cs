using LlmFp4.Kit.Models;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Tests.Models;

public class LlamaModelTests
{
    internal static LlamaConfig TinyConfig(bool tied) => new()
    {
        VocabSize = 61,
        HiddenSize = 32,
        IntermediateSize = 48,
        NumHiddenLayers = 2,
        NumAttentionHeads = 4,
        NumKeyValueHeads = 2,
        MaxPositionEmbeddings = 40,
        RopeTheta = 500.0,
        RmsNormEps = 1e-5,
        TieWordEmbeddings = tied,
    };

    /// <summary>A random model with larger weights and non-trivial norms, so every part of the forward matters.</summary>
    internal static LlamaModel TinyModel(bool tied, int seed = 1)
    {
        var model = LlamaModel.CreateRandom(TinyConfig(tied), seed, std: 0.2f);
        var random = new Random(seed + 100);
        foreach (var (name, tensor) in model.NamedWeights())
            if (name.EndsWith("norm.weight", StringComparison.Ordinal))
                for (int i = 0; i < tensor.Length; i++) tensor.Data[i] = 0.5f + (float)random.NextDouble();
        return model;
    }

    internal static int[] RandomTokens(int length, int vocab, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => random.Next(vocab)).ToArray();
    }

    [Fact]
    public void ScoreNextTokensGivesTheLogProbsAndTheArgMaxOfEachPosition()
    {
        var model = TinyModel(tied: false);
        var sequences = new[] { RandomTokens(9, model.VocabSize, 3), RandomTokens(4, model.VocabSize, 4) };
        var scores = model.ScoreNextTokens(sequences);
        var logProbs = model.TokenLogProbs(sequences);
        var logits = model.Logits(sequences);
        for (int s = 0; s < sequences.Length; s++)
        {
            Assert.Equal(logProbs[s], scores[s].LogProbs);
            Assert.Equal(sequences[s].Length - 1, scores[s].ArgMax.Length);
            for (int i = 0; i < scores[s].ArgMax.Length; i++)
            {
                var row = logits[s].AsSpan(i * model.VocabSize, model.VocabSize);
                int best = 0;
                for (int v = 1; v < row.Length; v++) if (row[v] > row[best]) best = v;
                Assert.Equal(best, scores[s].ArgMax[i]);
            }
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ForwardMatchesNaiveReference(bool tied)
    {
        var model = TinyModel(tied);
        var weights = model.NamedWeights().ToDictionary(e => e.Name, e => e.Tensor.Data);
        int[] tokens = RandomTokens(23, model.VocabSize, 7);

        float[] logits = model.Logits([tokens])[0];
        double[,] expected = NaiveLlama.Logits(model.Config, weights, tokens);

        double maxError = 0;
        for (int i = 0; i < tokens.Length; i++)
            for (int j = 0; j < model.VocabSize; j++)
                maxError = Math.Max(maxError, Math.Abs(logits[i * model.VocabSize + j] - expected[i, j]));
        Assert.InRange(maxError, 0, 1e-4);
    }

    [Fact]
    public void BatchOfUnequalLengthsEqualsEachSequenceAlone()
    {
        var model = TinyModel(tied: false);
        int[][] batch = [RandomTokens(17, model.VocabSize, 1), RandomTokens(1, model.VocabSize, 2), RandomTokens(40, model.VocabSize, 3), []];
        float[][] together = model.Logits(batch);
        for (int s = 0; s < batch.Length; s++)
        {
            float[] alone = model.Logits([batch[s]])[0];
            Assert.Equal(batch[s].Length * model.VocabSize, together[s].Length);
            // Bit-identical with the managed GEMM; OpenBLAS picks different kernels for 1 row than for many (~1e-6).
            for (int i = 0; i < alone.Length; i++) Assert.Equal(alone[i], together[s][i], 1e-5f);
        }
    }

    [Fact]
    public void RunsAreBitIdenticalAndRandomInitIsSeeded()
    {
        var model = TinyModel(tied: false);
        int[][] batch = [RandomTokens(30, model.VocabSize, 4), RandomTokens(12, model.VocabSize, 5)];
        float[][] first = model.Logits(batch), second = model.Logits(batch);
        for (int s = 0; s < batch.Length; s++) Assert.Equal(first[s], second[s]);

        var again = LlamaModel.CreateRandom(TinyConfig(tied: false), seed: 1, std: 0.2f);
        var other = LlamaModel.CreateRandom(TinyConfig(tied: false), seed: 2, std: 0.2f);
        Assert.Equal(LlamaModel.CreateRandom(TinyConfig(false), 1, 0.2f).Linears[3].Weight, again.Linears[3].Weight);
        Assert.NotEqual(other.Linears[3].Weight, again.Linears[3].Weight);
    }

    [Fact]
    public void TokenLogProbsAreLogSoftmaxAtTheNextTokenAndIndependentOfGrouping()
    {
        var model = TinyModel(tied: true);
        int[][] batch = [RandomTokens(20, model.VocabSize, 6), RandomTokens(1, model.VocabSize, 7), RandomTokens(9, model.VocabSize, 8)];
        float[][] logProbs = model.TokenLogProbs(batch);
        float[] logits = model.Logits([batch[0]])[0];
        Assert.Equal([19, 0, 8], logProbs.Select(l => l.Length));
        for (int i = 0; i < 19; i++)
        {
            var row = logits.AsSpan(i * model.VocabSize, model.VocabSize).ToArray();
            double expected = row[batch[0][i + 1]] - Math.Log(row.Sum(v => Math.Exp(v)));
            Assert.Equal(expected, logProbs[0][i], 1e-5);
        }

        model.MaxBatchTokens = 10; // every sequence now runs in its own forward pass
        float[][] grouped = model.TokenLogProbs(batch);
        for (int s = 0; s < batch.Length; s++)
            for (int i = 0; i < grouped[s].Length; i++) Assert.Equal(logProbs[s][i], grouped[s][i], 1e-5f);
    }

    private sealed class RecordingQuantizer(string name, List<string> calls, Func<float, float>? map = null) : ITensorQuantizer
    {
        public void Apply(Span<float> values, int rows, int cols)
        {
            Assert.Equal(rows * cols, values.Length);
            lock (calls) calls.Add($"{name} {rows}x{cols}");
            if (map is not null)
                for (int i = 0; i < values.Length; i++) values[i] = map(values[i]);
        }
    }

    [Fact]
    public void EveryQuantizationPointIsCalledWithItsBlock()
    {
        var model = TinyModel(tied: false);
        var calls = new List<string>();
        foreach (var linear in model.Linears) linear.InputQuantizer = new RecordingQuantizer(linear.Name, calls);
        foreach (var point in model.AttentionMatMulPoints) point.Quantizer = new RecordingQuantizer(point.Name, calls);
        int[][] batch = [RandomTokens(5, model.VocabSize, 1), RandomTokens(3, model.VocabSize, 2)];
        model.Logits(batch);

        var c = model.Config;
        Assert.Equal(15, model.Linears.Count);
        Assert.Equal(8, model.AttentionMatMulPoints.Count);
        foreach (var linear in model.Linears) Assert.Single(calls, $"{linear.Name} 8x{linear.InFeatures}");
        Assert.Single(calls, "model.layers.1.self_attn.q_matmul 8x32");
        Assert.Single(calls, "model.layers.1.self_attn.k_matmul 8x16");
        Assert.Single(calls, "model.layers.0.self_attn.v_matmul 8x16");
        // Probabilities: once per (sequence, head), as a [length × length] block.
        Assert.Equal(c.NumAttentionHeads, calls.Count(call => call == "model.layers.0.self_attn.probs_matmul 5x5"));
        Assert.Equal(c.NumAttentionHeads, calls.Count(call => call == "model.layers.1.self_attn.probs_matmul 3x3"));
        Assert.Equal(15 + 2 * (3 + 2 * c.NumAttentionHeads), calls.Count);
    }

    [Fact]
    public void NoOpQuantizersGiveIdenticalLogitsAndQuantizersActOnlyOnTheirOperand()
    {
        var model = TinyModel(tied: false);
        int[][] batch = [RandomTokens(11, model.VocabSize, 3)];
        float[] off = model.Logits(batch)[0];

        var calls = new List<string>();
        foreach (var linear in model.Linears) linear.InputQuantizer = new RecordingQuantizer(linear.Name, calls);
        foreach (var point in model.AttentionMatMulPoints) point.Quantizer = new RecordingQuantizer(point.Name, calls);
        Assert.Equal(off, model.Logits(batch)[0]);

        // Halving q_proj's input halves its output and leaves k_proj's input (the shared normed stream) alone.
        foreach (var linear in model.Linears) linear.InputQuantizer = null;
        foreach (var point in model.AttentionMatMulPoints) point.Quantizer = null;
        var layer = model.Layers[0];
        var observer = new CapturingObserver();
        model.Observer = observer;
        model.Logits(batch);
        float[] qBefore = observer.Outputs[layer.QProj.Name], kInputBefore = observer.Inputs[layer.KProj.Name];
        layer.QProj.InputQuantizer = new RecordingQuantizer("half", calls, v => v / 2);
        float[] quantized = model.Logits(batch)[0];
        Assert.Equal(kInputBefore, observer.Inputs[layer.KProj.Name]);
        Assert.Equal(kInputBefore, observer.Inputs[layer.QProj.Name]); // observer sees the input before quantization
        for (int i = 0; i < qBefore.Length; i++) Assert.Equal(qBefore[i] / 2, observer.Outputs[layer.QProj.Name][i], 1e-6f);
        Assert.NotEqual(off, quantized);
    }

    private sealed class CapturingObserver : ILinearObserver
    {
        public readonly Dictionary<string, float[]> Inputs = new(), Outputs = new();
        public readonly List<string> Order = new();

        public void Observe(LinearLayer layer, ReadOnlySpan<float> input, ReadOnlySpan<float> output, int rows)
        {
            Assert.Equal(rows * layer.InFeatures, input.Length);
            Assert.Equal(rows * layer.OutFeatures, output.Length);
            Inputs[layer.Name] = input.ToArray();
            Outputs[layer.Name] = output.ToArray();
            Order.Add(layer.Name);
        }
    }

    [Fact]
    public void ObserverSeesEveryLinearInExecutionOrderWithItsShapes()
    {
        var model = TinyModel(tied: true);
        var observer = new CapturingObserver();
        model.Observer = observer;
        float[] logits = model.Logits([RandomTokens(6, model.VocabSize, 9), RandomTokens(4, model.VocabSize, 10)]).SelectMany(l => l).ToArray();
        Assert.Equal(model.Linears.Select(l => l.Name), observer.Order);
        Assert.Equal("model.layers.1.mlp.down_proj", observer.Order[^2]);
        Assert.Equal(10 * model.Config.IntermediateSize, observer.Inputs["model.layers.1.mlp.down_proj"].Length);
        Assert.Equal(logits, observer.Outputs["lm_head"]);
    }

    [Fact]
    public void ConstructorNamesMissingMisshapedAndUnexpectedTensors()
    {
        var config = TinyConfig(tied: false);
        Dictionary<string, float[]> Weights() => LlamaModel.CreateRandom(config, 1).NamedWeights().ToDictionary(e => e.Name, e => e.Tensor.Data);

        var weights = Weights();
        weights.Remove("model.layers.1.mlp.up_proj.weight");
        var error = Assert.Throws<ArgumentException>(() => new LlamaModel(config, weights));
        Assert.Equal("model.layers.1.mlp.up_proj.weight: missing (expected shape [48, 32]).", error.Message);

        weights = Weights();
        weights["model.layers.0.self_attn.k_proj.weight"] = new float[32 * 32];
        error = Assert.Throws<ArgumentException>(() => new LlamaModel(config, weights));
        Assert.Equal("model.layers.0.self_attn.k_proj.weight: expected shape [16, 32] (512 values), got 1024 values.", error.Message);

        weights = Weights();
        weights["model.layers.0.self_attn.q_proj.bias"] = new float[32];
        error = Assert.Throws<ArgumentException>(() => new LlamaModel(config, weights));
        Assert.StartsWith("model.layers.0.self_attn.q_proj.bias: unexpected tensor", error.Message);

        var model = new LlamaModel(config, Weights());
        error = Assert.Throws<ArgumentException>(() => model.Linears[0].Weight = new float[3]);
        Assert.Contains("model.layers.0.self_attn.q_proj.weight: expected shape [32, 32]", error.Message);
        error = Assert.Throws<ArgumentException>(() => model.Logits([[1, 2, 61]]));
        Assert.Equal("Sequence 0, position 2: token id 61 is outside the vocabulary 0..60.", error.Message);
        error = Assert.Throws<ArgumentException>(() => model.Logits([new int[41]]));
        Assert.Contains("more than the context length 40", error.Message);
    }

    [Fact]
    public void TiedHeadSharesTheEmbeddingUntilReplacedAndExportRoundTrips()
    {
        var model = TinyModel(tied: true);
        Assert.Same(model.Embedding.Data, model.LmHead.Weight);
        Assert.DoesNotContain(model.NamedWeights(), e => e.Name == "lm_head.weight");
        Assert.Equal(LlamaModel.WeightShapes(model.Config).Select(s => s.Name), model.NamedWeights().Select(e => e.Name));

        var clone = model.Clone();
        int[][] batch = [RandomTokens(8, model.VocabSize, 11)];
        Assert.Equal(model.Logits(batch)[0], clone.Logits(batch)[0]);

        clone.LmHead.Weight = clone.LmHead.Weight.Select(v => v * 2).ToArray();
        Assert.Contains(clone.NamedWeights(), e => e.Name == "lm_head.weight");
        Assert.False(clone.Clone().Config.TieWordEmbeddings);
        Assert.NotEqual(model.Logits(batch)[0], clone.Logits(batch)[0]);
    }
}
