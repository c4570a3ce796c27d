using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Calibration;

/// <summary>
/// RPTQ (Yuan et al. 2023, docs/methods.md §7): cluster the channels of every linear input by their (min, max) over the
/// calibration set, reorder them so clusters are contiguous (fused into the weights by the model's
/// <see cref="IQuantizableModel.ReorderedWeights"/>), give each cluster one asymmetric INT range for the activations, and
/// each (output channel × input cluster) its own range for the weights, rounded to nearest or by GPTQ. Needs the model's
/// <see cref="ChannelLayout"/>.
/// </summary>
/// <remarks>
/// RPTQ proper clusters each LayerNorm output separately and has the norm kernel write its output in that order. A
/// norm reads the residual stream, so with weights alone one order must serve every norm: it is clustered on the
/// side-by-side (min, max) statistics of all norm outputs, and each norm output still gets its own range per cluster.
/// </remarks>
internal sealed class RptqMethod(RptqSettings settings) : ICalibrationMethod<RptqSettings>
{
    private Dictionary<string, ChannelClusters> _clusters = [];
    private Dictionary<string, float[]> _reordered = [];

    public void CheckModel(IQuantizableModel model)
    {
        if (model.ChannelLayout is null)
            throw new NotSupportedException($"rptq: this {model.Architecture} model does not describe its channel layout, so its channels cannot be reordered.");
    }

    /// <summary>One residual order serves every norm output, so it is clustered on all of their inputs at once.</summary>
    public bool NeedsEveryInputFirst => true;

    public void Prepare(CalibrationContext context)
    {
        var (order, clusters) = Order(context.Model.ChannelLayout!, context.Groups, settings);
        _clusters = clusters;
        _reordered = context.Model.ReorderedWeights(order);
        foreach (var (name, values) in _reordered) context.Tensors[name] = values;
    }

    public IEnumerable<LayerCalibration> CalibrateGroup(CalibrationContext context, InputGroup group)
    {
        var config = context.Config;
        int tokens = group.Tokens, features = group.Features;
        var groupClusters = _clusters[group.Name];
        var inputs = ChannelPermutation.PermuteColumns(group.Inputs, tokens, features, groupClusters.Permutation);
        var input = config.Activations is { } a ? ActivationQuantizer(a.IntFormat, groupClusters, inputs, tokens, features) : null;
        double[]? hessian = settings.Gptq is not null && config.Weights is not null ? Gptq.Hessian(inputs, tokens, features) : null;
        foreach (var layer in group.Layers)
        {
            var weight = _reordered[layer.WeightName];
            var quantized = config.Weights is { } w
                ? QuantizeWeight(w.IntFormat, weight, layer.OutFeatures, features, groupClusters.ClusterSizes, hessian, settings.Gptq)
                : weight;
            yield return context.Layer(group, layer, null, quantized, input,
                config.Weights is null ? null : $"{config.Weights.IntFormat} per channel × cluster{(hessian is null ? "" : ", GPTQ")}",
                config.Activations is null ? null : $"{config.Activations.IntFormat} per cluster",
                new RptqLayerResult(groupClusters.ClusterSizes), referenceInputs: inputs, referenceWeight: weight);
        }
    }

    /// <summary>
    /// The reorder and the clusters of every input group: the residual order from the side-by-side (min, max) of all norm
    /// outputs; per block, the attention order clustered per key/value head on the attention output's (min, max) (taken
    /// over the query heads that share the key/value head); the MLP order from the MLP hidden input's (min, max).
    /// </summary>
    internal static (ChannelOrder Order, Dictionary<string, ChannelClusters> Clusters) Order(ChannelLayout layout, IReadOnlyList<InputGroup> groups, RptqSettings settings)
    {
        int hidden = layout.Hidden, headDim = layout.HeadDim, kvHeads = layout.KeyValueHeads, queryPerKv = layout.Heads / kvHeads;
        var byName = groups.ToDictionary(g => g.Name);
        var normGroups = groups.Where(g => g.HasNorm).ToList();
        var residual = ChannelClusters.Identity(hidden);
        if (normGroups.Count > 0)
        {
            var statistics = normGroups.Select(g => RptqClustering.MinMaxStatistics(g.Inputs, g.Tokens, hidden)).ToList();
            int dimensions = 2 * normGroups.Count;
            var points = new double[hidden * dimensions];
            for (int j = 0; j < hidden; j++)
                for (int g = 0; g < normGroups.Count; g++)
                {
                    points[j * dimensions + 2 * g] = statistics[g][2 * j];
                    points[j * dimensions + 2 * g + 1] = statistics[g][2 * j + 1];
                }
            residual = RptqClustering.Cluster(points, hidden, dimensions, settings.Clusters, settings.Restarts, settings.Seed);
        }
        var clusters = normGroups.ToDictionary(g => g.Name, _ => residual);
        var attention = new List<int[]>();
        var mlp = new List<int[]>();
        foreach (var (attentionOutput, mlpHidden) in layout.Blocks)
        {
            var valueOrder = new int[kvHeads * headDim];
            var headSizes = new int[kvHeads][];
            if (byName.TryGetValue(attentionOutput, out var o))
            {
                var statistics = RptqClustering.MinMaxStatistics(o.Inputs, o.Tokens, o.Features);
                for (int kv = 0; kv < kvHeads; kv++)
                {
                    var points = new double[headDim * 2];
                    for (int d = 0; d < headDim; d++)
                    {
                        double min = double.PositiveInfinity, max = double.NegativeInfinity;
                        for (int h = kv * queryPerKv; h < (kv + 1) * queryPerKv; h++)
                        {
                            min = Math.Min(min, statistics[2 * (h * headDim + d)]);
                            max = Math.Max(max, statistics[2 * (h * headDim + d) + 1]);
                        }
                        (points[2 * d], points[2 * d + 1]) = (min, max);
                    }
                    var head = RptqClustering.Cluster(points, headDim, 2, settings.HeadClusters, settings.Restarts, settings.Seed);
                    for (int p = 0; p < headDim; p++) valueOrder[kv * headDim + p] = kv * headDim + head.Permutation[p];
                    headSizes[kv] = head.ClusterSizes;
                }
                clusters[o.Name] = new ChannelClusters(layout.ContextOrder(valueOrder),
                    [.. Enumerable.Range(0, layout.Heads).SelectMany(h => headSizes[h / queryPerKv])]);
            }
            else
            {
                for (int j = 0; j < valueOrder.Length; j++) valueOrder[j] = j;
            }
            attention.Add(valueOrder);

            var mlpClusters = ChannelClusters.Identity(layout.MlpWidth);
            if (byName.TryGetValue(mlpHidden, out var down))
            {
                mlpClusters = RptqClustering.Cluster(RptqClustering.MinMaxStatistics(down.Inputs, down.Tokens, down.Features),
                    down.Features, 2, settings.Clusters, settings.Restarts, settings.Seed);
                clusters[down.Name] = mlpClusters;
            }
            mlp.Add(mlpClusters.Permutation);
        }
        return (new ChannelOrder(residual.Permutation, attention, mlp), clusters);
    }

    /// <summary>One asymmetric min-max range per cluster of the (reordered) input, as per-column scales and zero points.</summary>
    internal static IntQuantizer ActivationQuantizer(IntFormat format, ChannelClusters clusters, ReadOnlySpan<float> inputs, int tokens, int features)
    {
        var minimum = new float[features];
        var maximum = new float[features];
        FakeQuant.MinMax(inputs, tokens, features, Granularity.PerColumn, minimum, maximum);
        var scales = new float[features];
        var zeros = new int[features];
        int start = 0;
        foreach (int size in clusters.ClusterSizes)
        {
            var range = new Range(start, start + size);
            var (scale, zero) = format.MinMaxParameters(System.Numerics.Tensors.TensorPrimitives.Min(minimum.AsSpan(range)),
                System.Numerics.Tensors.TensorPrimitives.Max(maximum.AsSpan(range)));
            scales.AsSpan(range).Fill(scale);
            zeros.AsSpan(range).Fill(format.IsSymmetric ? 0 : zero);
            start += size;
        }
        return new IntQuantizer(format, Granularity.PerColumn, scales, format.IsSymmetric ? [] : zeros);
    }

    /// <summary>
    /// Quantizes a [rows × cols] weight with one min-max range per (row × input cluster); with a Hessian, GPTQ rounds on
    /// that grid.
    /// </summary>
    internal static float[] QuantizeWeight(IntFormat format, float[] weight, int rows, int cols, int[] clusterSizes, double[]? hessian, GptqSettings? gptq)
    {
        var scales = new float[rows * cols];
        var zeros = new int[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            int start = r * cols;
            foreach (int size in clusterSizes)
            {
                var slice = weight.AsSpan(start, size);
                var (scale, zero) = format.MinMaxParameters(System.Numerics.Tensors.TensorPrimitives.Min(slice), System.Numerics.Tensors.TensorPrimitives.Max(slice));
                scales.AsSpan(start, size).Fill(scale);
                zeros.AsSpan(start, size).Fill(zero);
                start += size;
            }
        }
        // One slot per element (groups of 1) expresses the (row × cluster) ranges on the existing grid type.
        var grid = new IntQuantizer(format, Granularity.PerGroup(1), scales, format.IsSymmetric ? [] : zeros);
        return hessian is null ? grid.Quantize(weight, rows, cols) : Gptq.Quantize(weight, rows, cols, hessian, grid, gptq!);
    }
}
