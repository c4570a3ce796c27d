using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Quantization;
using static LlmFp4.Kit.Tests.Calibration.CalibrationTestData;

namespace LlmFp4.Kit.Tests.Calibration;

public class RptqTests
{
    [Fact]
    public void KMeans_finds_separated_groups_and_repeats_itself_with_the_seed()
    {
        // Three blobs of (min, max) points, interleaved so the clusters are not already contiguous.
        double[] centres = [-1, 1, -10, 10, -0.1, 0.2];
        var random = new Random(2);
        int count = 30;
        var points = new double[count * 2];
        for (int i = 0; i < count; i++)
        {
            int blob = i % 3;
            points[2 * i] = centres[2 * blob] + random.NextDouble() * 0.01;
            points[2 * i + 1] = centres[2 * blob + 1] + random.NextDouble() * 0.01;
        }
        var assignment = RptqClustering.KMeans(points, count, 2, k: 3, restarts: 4, seed: 0);
        for (int i = 0; i < count; i++) Assert.Equal(assignment[i % 3], assignment[i]);
        Assert.Equal(3, assignment.Distinct().Count());
        Assert.Equal(assignment, RptqClustering.KMeans(points, count, 2, k: 3, restarts: 4, seed: 0));

        var clusters = RptqClustering.Cluster(points, count, 2, k: 3, restarts: 4, seed: 0);
        Assert.Equal([10, 10, 10], clusters.ClusterSizes);
        Assert.Equal(Enumerable.Range(0, count), clusters.Permutation.Order());
        // Narrowest range first: the (-0.1, 0.2) blob, then (-1, 1), then (-10, 10); indices ascending inside.
        Assert.Equal([2, 5, 8], clusters.Permutation[..3]);
        Assert.Equal([0, 3, 6], clusters.Permutation[10..13]);
        Assert.Equal(2, RptqClustering.KMeans(points.AsSpan(0, 4), 2, 2, k: 5, restarts: 1, seed: 0).Distinct().Count());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Reordered_full_precision_model_gives_the_same_logits(bool tied)
    {
        var model = TinyModel(tied);
        var config = model.Config;
        var random = new Random(7);
        int[] Shuffle(int n) => [.. Enumerable.Range(0, n).OrderBy(_ => random.Next())];
        int[] WithinHeads()
        {
            var order = new int[config.KeyValueHeads * config.HeadDim];
            for (int h = 0; h < config.KeyValueHeads; h++)
            {
                var within = Shuffle(config.HeadDim);
                for (int p = 0; p < config.HeadDim; p++) order[h * config.HeadDim + p] = h * config.HeadDim + within[p];
            }
            return order;
        }
        var order = new ChannelOrder(Shuffle(config.HiddenSize),
            [.. model.Layers.Select(_ => WithinHeads())], [.. model.Layers.Select(_ => Shuffle(config.IntermediateSize))]);
        var permuted = model.ReorderedWeights(order);
        var weights = model.NamedWeights().ToDictionary(w => w.Name, w => (float[])w.Tensor.Data.Clone());
        foreach (var (name, values) in permuted) weights[name] = values;
        var reordered = new LlamaModel(config with { TieWordEmbeddings = false }, weights);

        var set = TinySet();
        var reference = Logits(model, set);
        var actual = Logits(reordered, set);
        Assert.NotEqual(model.Layers[0].QProj.Weight, reordered.Layers[0].QProj.Weight);
        Assert.InRange(RelativeError(reference, actual), 0, 1e-6);
        Assert.Throws<ArgumentException>(() => model.ReorderedWeights(order with { Residual = [.. order.Residual.Skip(1).Prepend(order.Residual[1])] }));
    }

    [Fact]
    public void Attention_order_must_keep_channels_inside_their_head()
    {
        var config = TinyConfig();
        var across = Enumerable.Range(0, config.HiddenSize).ToArray();
        (across[0], across[config.HeadDim]) = (across[config.HeadDim], across[0]);
        Assert.Throws<ArgumentException>(() => TinyModel().ChannelLayout.ContextOrder(across));
    }

    [Fact]
    public void Rptq_at_16_bits_reproduces_the_model_and_4_bits_quantizes_per_cluster()
    {
        var model = TinyModel();
        var set = TinySet();
        var reference = Logits(model, set);
        var config = QuantPresets.Get("rptq-w4a4");
        var fine = config with
        {
            Weights = config.Weights! with { Bits = 16 },
            Activations = config.Activations! with { Bits = 16 },
            Method = new RptqSettings { Clusters = 4, HeadClusters = 2, Restarts = 3 },
        };
        var fineResult = Calibrator.Run(model, fine, set);
        var fineModel = model.Clone();
        fineResult.Apply(fineModel);
        Assert.InRange(RelativeError(reference, Logits(fineModel, set)), 0, 1e-3);

        var small = config with { Method = new RptqSettings { Clusters = 4, HeadClusters = 2, Restarts = 3 } };
        var result = Calibrator.Run(model, small, set);
        Assert.Equal(model.Linears.Count - 1, result.Layers.Count);
        var headDim = model.Config.HeadDim;
        foreach (var layer in result.Layers)
        {
            var sizes = Assert.IsType<RptqLayerResult>(layer.Details).InputClusterSizes;
            Assert.Equal(layer.InFeatures, sizes.Sum());
            Assert.True(sizes.Length > 1);
            var quantizer = Assert.IsType<IntQuantizer>(layer.InputQuantizer);
            Assert.False(quantizer.Format.IsSymmetric);
            Assert.Equal(4, quantizer.Format.Bits);
            if (layer.Name.EndsWith("o_proj", StringComparison.Ordinal))
                Assert.Equal(model.Config.NumAttentionHeads, SumsOf(sizes, headDim));
        }
        // Weights: at most 2^4 levels within each (output channel × input cluster).
        var q = result.Layers.First(l => l.Name.EndsWith("down_proj", StringComparison.Ordinal));
        var weight = result.Tensors[q.Name + ".weight"];
        int start = 0;
        foreach (int size in ((RptqLayerResult)q.Details!).InputClusterSizes)
        {
            Assert.InRange(weight.AsSpan(start, size).ToArray().Distinct().Count(), 1, 16);
            start += size;
        }
        var quantized = model.Clone();
        result.Apply(quantized);
        double error = RelativeError(reference, Logits(quantized, set));
        Assert.InRange(error, 1e-4, 1);

        string directory = Path.Combine(Path.GetTempPath(), $"rptq-{Guid.NewGuid():N}");
        try
        {
            result.Save(directory);
            var reloaded = model.Clone();
            CalibrationResult.Load(directory).Apply(reloaded);
            Assert.Equal(Logits(quantized, set), Logits(reloaded, set));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void Gptq_rounding_on_the_cluster_grid_lowers_the_layer_error()
    {
        var model = TinyModel();
        var set = TinySet();
        var settings = new RptqSettings { Clusters = 4, HeadClusters = 2, Restarts = 2 };
        var config = QuantPresets.Get("rptq-w3a3") with { Activations = null, Method = settings };
        var nearest = Calibrator.Run(model, config, set);
        var gptq = Calibrator.Run(model, config with { Method = settings with { Gptq = new GptqSettings() } }, set);
        Assert.True(gptq.Layers.Sum(l => l.OutputMse!.Value) < nearest.Layers.Sum(l => l.OutputMse!.Value));
        Assert.EndsWith("GPTQ", gptq.Layers[0].WeightFormat);
    }

    /// <summary>How many consecutive runs of clusters add up to exactly <paramref name="width"/> each (heads).</summary>
    private static int SumsOf(int[] sizes, int width)
    {
        int runs = 0, sum = 0;
        foreach (int size in sizes)
        {
            sum += size;
            Assert.True(sum <= width, "a cluster crosses a head boundary");
            if (sum == width) (runs, sum) = (runs + 1, 0);
        }
        return runs;
    }
}
