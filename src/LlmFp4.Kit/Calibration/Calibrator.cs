using System.Diagnostics;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Quantization;

namespace LlmFp4.Kit.Calibration;

/// <summary>
/// Turns a model, a <see cref="QuantConfig"/> and a <see cref="CalibrationSet"/> into a <see cref="CalibrationResult"/>:
/// captures the linear inputs of the full-precision model once, then runs the config's method layer by layer
/// (every layer independently, on full-precision inputs), quantizes the embedding and the attention operands.
/// The model itself is left unchanged; apply the result to it (or to a copy) to evaluate.
/// </summary>
public static class Calibrator
{
    public static CalibrationResult Run(LlamaModel model, QuantConfig config, CalibrationSet set,
        IProgress<CalibrationProgress>? progress = null, string? modelSource = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(set);
        config.Validate();
        var total = Stopwatch.StartNew();
        var timings = new Dictionary<string, double>();
        var identity = ModelIdentity.Of(model, modelSource);
        var tensors = new Dictionary<string, float[]>();

        var clock = Stopwatch.StartNew();
        bool linears = config.Weights is not null || config.Activations is not null;
        var groups = linears ? InputGroup.ForModel(model, config.QuantizeLmHead) : [];
        var attentionPoints = config.AttentionMatMuls is null ? [] : model.AttentionMatMulPoints;
        var attentionMax = groups.Count + attentionPoints.Count > 0
            ? ActivationCapture.Run(model, set, groups, attentionPoints, progress)
            : new Dictionary<string, float>();
        timings["capture"] = clock.Elapsed.TotalSeconds;

        clock.Restart();
        var layers = config.Method switch
        {
            QuantMethod.MinMax => MinMaxLayers(config, groups, tensors),
            QuantMethod.FpqBaseline or QuantMethod.Fpq => SearchLayers(config, groups, tensors, timings, progress),
            QuantMethod.SmoothQuant => SmoothQuant.Run(model, config, groups, tensors),
            QuantMethod.Gptq => Gptq.Run(config, groups, tensors, progress),
            QuantMethod.Rptq => Rptq.Run(model, config, groups, tensors, progress),
            QuantMethod.Fptq => Fptq.Run(config, groups, tensors, progress),
            _ => throw new ArgumentOutOfRangeException(nameof(config), config.Method, "Unknown quantization method."),
        };
        timings["layers"] = clock.Elapsed.TotalSeconds;

        clock.Restart();
        var embedding = config.Embedding is { } embeddingSpec ? QuantizeEmbedding(model, config, embeddingSpec, tensors, progress) : null;
        timings["embedding"] = clock.Elapsed.TotalSeconds;

        var attention = attentionPoints.ToDictionary(p => p.Name, p => MinMax.ForAbsMax(config.AttentionMatMuls!, attentionMax[p.Name]));
        foreach (var group in groups) group.Inputs = [];
        timings["total"] = total.Elapsed.TotalSeconds;
        return new CalibrationResult
        {
            Config = config,
            Model = identity,
            CalibrationTokens = set.TokenCount,
            Layers = layers,
            Embedding = embedding,
            AttentionQuantizers = attention,
            Timings = timings,
            Tensors = tensors,
        };
    }

    private static List<LayerCalibration> MinMaxLayers(QuantConfig config, IReadOnlyList<InputGroup> groups, Dictionary<string, float[]> tensors)
    {
        var result = new List<LayerCalibration>();
        foreach (var group in groups)
        {
            var input = config.Activations is { } a ? MinMax.ForActivation(a, group.Inputs, group.Tokens, group.Features) : null;
            foreach (var layer in group.Layers)
            {
                var weight = config.Weights is { } w ? MinMax.ForMatrix(w, layer.Weight, layer.OutFeatures, layer.InFeatures) : null;
                var quantized = weight?.Quantize(layer.Weight, layer.OutFeatures, layer.InFeatures) ?? layer.Weight;
                if (weight is not null) tensors[layer.WeightName] = quantized;
                result.Add(new LayerCalibration
                {
                    Name = layer.Name,
                    InFeatures = layer.InFeatures,
                    OutFeatures = layer.OutFeatures,
                    WeightQuantizer = weight,
                    InputQuantizer = input,
                    WeightFormat = FormatName(config.Weights),
                    ActivationFormat = FormatName(config.Activations),
                    WeightBiases = config.Weights is { Kind: NumberKind.Fp, Granularity.Kind: GranularityKind.PerRow } ws
                        ? FpBias.PerRow(ws.StartFormat, layer.Weight, layer.OutFeatures, layer.InFeatures) : null,
                    ActivationBias = config.Activations is { Kind: NumberKind.Fp } fa ? FpBias.ForMaxValue(fa.StartFormat, FpBias.AbsMax(group.Inputs)) : null,
                    OutputMse = LayerError.Mse(group.Inputs, group.Tokens, layer.InFeatures, layer.OutFeatures, layer.Weight, quantized, input),
                });
            }
        }
        return result;
    }

    private static List<LayerCalibration> SearchLayers(QuantConfig config, IReadOnlyList<InputGroup> groups, Dictionary<string, float[]> tensors,
        Dictionary<string, double> timings, IProgress<CalibrationProgress>? progress)
    {
        bool preShifted = config.Method == QuantMethod.Fpq;
        var result = new List<LayerCalibration>();
        foreach (var (group, index) in groups.Select((g, i) => (g, i)))
        {
            progress?.Report(new("layers", group.Name, index, groups.Count));
            var clock = Stopwatch.StartNew();
            var searched = new FpqSearch(group, config.Weights, config.Activations, config.Search, preShifted, progress).Run();
            timings[$"search {group.Name}"] = clock.Elapsed.TotalSeconds;
            foreach (var found in searched)
            {
                var layer = found.Layer;
                FpQuantizer? weight = found.WeightFormat is { } wf ? FpQuantizer.PerRow(wf, found.WeightBiases) : null;
                var quantized = weight?.Quantize(layer.Weight, layer.OutFeatures, layer.InFeatures) ?? layer.Weight;
                if (weight is not null) tensors[layer.WeightName] = quantized;
                result.Add(new LayerCalibration
                {
                    Name = layer.Name,
                    InFeatures = layer.InFeatures,
                    OutFeatures = layer.OutFeatures,
                    WeightQuantizer = weight,
                    InputQuantizer = found.InputQuantizer,
                    WeightFormat = found.WeightFormat is { } w ? FpqSearch.Name(w) : null,
                    ActivationFormat = found.ActivationFormat is { } a ? FpqSearch.Name(a) : null,
                    WeightBiases = found.WeightBiases,
                    ActivationBias = found.ActivationBias,
                    ActivationOffsets = found.ActivationOffsets,
                    OutputMse = LayerError.Mse(group.Inputs, group.Tokens, layer.InFeatures, layer.OutFeatures, layer.Weight, quantized, found.InputQuantizer),
                    Fold = weight is not null && found.ActivationOffsets is { } offsets
                        ? PreShiftedFold.Check(quantized, layer.OutFeatures, layer.InFeatures, weight, offsets) : null,
                    Search = found.Trace,
                });
            }
        }
        progress?.Report(new("layers", "done", groups.Count, groups.Count));
        return result;
    }

    private static EmbeddingCalibration QuantizeEmbedding(LlamaModel model, QuantConfig config, QuantSpec spec, Dictionary<string, float[]> tensors,
        IProgress<CalibrationProgress>? progress)
    {
        float[] table = model.Embedding.Data;
        int rows = model.Config.VocabSize, cols = model.Config.HiddenSize;
        TensorQuantizer quantizer;
        IReadOnlyList<FormatCurve>? curves = null;
        string format;
        if (config.Method is QuantMethod.FpqBaseline or QuantMethod.Fpq && spec.Kind == NumberKind.Fp)
        {
            var (searched, searchCurves) = EmbeddingSearch.Run(table, rows, cols, spec, config.Search, progress);
            (quantizer, curves, format) = (searched, searchCurves, FpqSearch.Name(searched.Format));
        }
        else
        {
            (quantizer, format) = (MinMax.ForMatrix(spec, table, rows, cols), FormatName(spec)!);
        }
        var quantized = quantizer.Quantize(table, rows, cols);
        tensors[model.Embedding.Name] = quantized;
        double mse = DoubleSums.SumOfSquaredSums(table, Negated(quantized)) / table.Length;
        return new EmbeddingCalibration(format, quantizer, mse, curves);
    }

    private static float[] Negated(float[] values)
    {
        var negated = new float[values.Length];
        System.Numerics.Tensors.TensorPrimitives.Negate(values, negated);
        return negated;
    }

    internal static string? FormatName(QuantSpec? spec) => spec switch
    {
        null => null,
        { Kind: NumberKind.Int } => spec.IntFormat.ToString(),
        _ => FpqSearch.Name(spec.StartFormat),
    };
}
