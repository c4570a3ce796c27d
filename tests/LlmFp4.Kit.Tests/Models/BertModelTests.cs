using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Bert;
using LlmFp4.Kit.Quantization;

namespace LlmFp4.Kit.Tests.Models;

public class BertModelTests
{
    internal static readonly BertConfig Tiny = new()
    {
        VocabSize = 50, HiddenSize = 32, NumHiddenLayers = 2, NumAttentionHeads = 4, IntermediateSize = 64,
        MaxPositionEmbeddings = 24, LayerNormEps = 1e-12,
    };

    private static Dictionary<string, float[]> Weights(BertModel model) =>
        model.NamedWeights().ToDictionary(entry => entry.Name, entry => entry.Tensor.Data);

    [Fact]
    public void ForwardMatchesTheNaiveReferenceForEverySequenceOfARaggedBatch()
    {
        var model = BertModel.CreateRandom(Tiny, seed: 1, std: 0.3f);
        // LayerNorm weights other than 1, so a kernel that ignored them would show.
        var random = new Random(7);
        foreach (var (name, tensor) in model.NamedWeights().Where(w => w.Name.EndsWith("LayerNorm.weight", StringComparison.Ordinal)))
            for (int i = 0; i < tensor.Data.Length; i++) tensor.Data[i] += (float)(random.NextDouble() - 0.5);
        int[][] batch = [[1, 5, 9, 2], [1, 7, 7, 7, 3, 11, 40, 2], [3]];
        int[][] types = [[0, 0, 1, 1], [0, 0, 0, 0, 1, 1, 1, 1], [1]];
        var states = new float[batch.Sum(s => s.Length) * Tiny.HiddenSize];
        model.Forward(batch, states, types);
        int row = 0;
        for (int s = 0; s < batch.Length; s++)
        {
            var expected = NaiveBert.LastHiddenState(Tiny, Weights(model), batch[s], types[s]);
            for (int i = 0; i < batch[s].Length; i++, row++)
                for (int j = 0; j < Tiny.HiddenSize; j++)
                    Assert.True(Math.Abs(expected[i, j] - states[row * Tiny.HiddenSize + j]) < 2e-5,
                        $"sequence {s} token {i} channel {j}: {states[row * Tiny.HiddenSize + j]} vs {expected[i, j]}");
        }
    }

    [Fact]
    public void ASequenceGetsTheSameStatesAloneAndInABatch()
    {
        var model = BertModel.CreateRandom(Tiny, seed: 2, std: 0.3f);
        int[] sequence = [1, 4, 8, 15, 16, 23, 42, 2];
        float[] alone = model.HiddenStates([sequence])[0];
        float[][] batched = model.HiddenStates([[1, 2], sequence, Enumerable.Range(0, 24).ToArray()]);
        // Equal up to the GEMM's blocking, which depends on the number of rows.
        Assert.Equal(alone.Length, batched[1].Length);
        for (int i = 0; i < alone.Length; i++) Assert.Equal(alone[i], batched[1][i], 1e-5f);
        Assert.Equal(batched[1], model.HiddenStates([[1, 2], sequence, Enumerable.Range(0, 24).ToArray()])[1]);
        Assert.Empty(model.HiddenStates([[]])[0]);
    }

    [Fact]
    public void ExposesHuggingFaceNamedLinearsWithBiasesToTheObserverAndItsQuantizationPoints()
    {
        var model = BertModel.CreateRandom(Tiny, seed: 3);
        Assert.Equal(12, model.Linears.Count);
        Assert.Equal(["encoder.layer.1.attention.self.query", "encoder.layer.1.attention.self.key", "encoder.layer.1.attention.self.value",
            "encoder.layer.1.attention.output.dense", "encoder.layer.1.intermediate.dense", "encoder.layer.1.output.dense"],
            model.Layers[1].Linears.Select(l => l.Name));
        Assert.All(model.Linears, linear => Assert.Equal(linear.OutFeatures, linear.Bias!.Length));
        Assert.Equal("embeddings.word_embeddings.weight", model.WordEmbeddings.Name);
        Assert.Equal("encoder.layer.0.attention.self.probs_matmul", model.AttentionMatMulPoints[2].Name);

        var seen = new List<(string Name, int Rows)>();
        model.Observer = new Recorder(seen);
        model.HiddenStates([[1, 2, 3], [4, 5]]);
        Assert.Equal(model.Linears.Select(l => (l.Name, 5)), seen);

        // A quantizer on the probabilities sees each (sequence, head) block; one that zeroes them changes the output.
        float[] before = model.HiddenStates([[1, 2, 3]])[0];
        var probs = new ZeroingQuantizer();
        model.Layers[0].ProbsMatMul.Quantizer = probs;
        float[] after = model.HiddenStates([[1, 2, 3]])[0];
        Assert.Equal(Tiny.NumAttentionHeads, probs.Calls);
        Assert.NotEqual(before, after);
    }

    [Fact]
    public void WeightsRoundTripAndCloneIsDeep()
    {
        var model = BertModel.CreateRandom(Tiny, seed: 4);
        var weights = Weights(model);
        Assert.Equal(BertModel.WeightShapes(Tiny).Select(s => s.Name), weights.Keys);
        var clone = model.Clone();
        clone.Layers[0].Query.Weight[0] += 1;
        Assert.NotEqual(clone.Layers[0].Query.Weight[0], model.Layers[0].Query.Weight[0]);
        Assert.Equal(Weights(BertModel.CreateRandom(Tiny, seed: 4)).Values, weights.Values);
    }

    [Fact]
    public void BadInputIsRejectedWithTheReason()
    {
        var model = BertModel.CreateRandom(Tiny, seed: 5);
        Assert.Contains("max_position_embeddings", Assert.Throws<ArgumentException>(() => model.HiddenStates([new int[25]])).Message);
        Assert.Contains("token id 50", Assert.Throws<ArgumentException>(() => model.HiddenStates([[50]])).Message);
        Assert.Contains("type_vocab_size", Assert.Throws<ArgumentException>(() => model.Forward([[1]], new float[32], [[2]])).Message);
        var weights = Weights(model);
        weights.Remove("encoder.layer.1.output.dense.bias");
        Assert.Contains("encoder.layer.1.output.dense.bias: missing", Assert.Throws<ArgumentException>(() => new BertModel(Tiny, weights)).Message);
        weights["pooler.dense.bias"] = new float[32];
        Assert.Contains("pooler.dense.bias: unexpected", Assert.Throws<ArgumentException>(() => new BertModel(Tiny, weights)).Message);
        Assert.Contains("hidden_act 'relu'", Assert.Throws<ArgumentException>(() => (Tiny with { HiddenAct = "relu" }).Validate()).Message);
    }

    private sealed class Recorder(List<(string, int)> seen) : ILinearObserver
    {
        public void Observe(LinearLayer layer, ReadOnlySpan<float> input, ReadOnlySpan<float> output, int rows) => seen.Add((layer.Name, rows));
    }

    private sealed class ZeroingQuantizer : ITensorQuantizer
    {
        private int _calls;
        public int Calls => _calls;
        public void Apply(Span<float> values, int rows, int cols)
        {
            Interlocked.Increment(ref _calls);
            values.Clear();
        }
    }
}
