using LlmFp4.Kit.Analysis;
using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Evaluation;
using LlmFp4.Kit.Experiments;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Quantization;
using Microsoft.Data.Analysis;

namespace LlmFp4.Kit.Notebooks;

/// <summary>
/// The kit's tabular results as Microsoft.Data.Analysis <see cref="DataFrame"/>s, one row per item, numbers as numbers
/// (not formatted text) so a notebook can sort and filter them; a value that does not apply is null. Notebooks show a
/// DataFrame with the package's own formatter.
/// <para>
/// Beware: <c>GroupBy(...).Mean()</c> of Microsoft.Data.Analysis 0.23 counts nulls as zeros; drop them first
/// (<c>frame.DropNulls()</c>) or filter the rows.
/// </para>
/// </summary>
public static class DataFrames
{
    /// <summary>
    /// Evaluation results, one row each: model, quant config ("" for full precision), task, metric, value (as the metric
    /// is defined: accuracy as a fraction, perplexity as is), its standard error, examples.
    /// </summary>
    public static DataFrame ToDataFrame(this IEnumerable<EvalResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var rows = results.ToList();
        return new DataFrame(
            new StringDataFrameColumn("model", rows.Select(r => r.Model)),
            new StringDataFrameColumn("quant", rows.Select(r => r.QuantConfig ?? "")),
            new StringDataFrameColumn("task", rows.Select(r => r.Task)),
            new StringDataFrameColumn("metric", rows.Select(r => r.Metric)),
            new DoubleDataFrameColumn("value", rows.Select(r => (double?)r.Value)),
            new DoubleDataFrameColumn("stderr", rows.Select(r => r.Stderr)),
            new Int32DataFrameColumn("examples", rows.Select(r => (int?)r.N)));
    }

    /// <summary>
    /// A reproduce run, one row per table row: its label and preset, one column per task metric ("continuation acc",
    /// "perplexity", … in the order they first appear; null where the row lacks it), the calibration and
    /// evaluation seconds and whether the row was read back from an earlier run.
    /// </summary>
    public static DataFrame ToDataFrame(this ReproductionResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var metrics = result.Results.Select(r => (r.Task, r.Metric)).Distinct().ToList();
        var columns = new List<DataFrameColumn>
        {
            new StringDataFrameColumn("setting", result.Rows.Select(r => r.Label)),
            new StringDataFrameColumn("row", result.Rows.Select(r => r.Name)),
        };
        foreach (var (task, metric) in metrics)
            columns.Add(new DoubleDataFrameColumn(task == metric ? task : $"{task} {metric}", result.Rows.Select(row =>
                row.Results.LastOrDefault(r => r.Task == task && r.Metric == metric) is { } found ? found.Value : (double?)null)));
        columns.Add(new DoubleDataFrameColumn("calibration s", result.Rows.Select(r => (double?)r.CalibrationSeconds)));
        columns.Add(new DoubleDataFrameColumn("evaluation s", result.Rows.Select(r => (double?)r.EvaluationSeconds)));
        columns.Add(new BooleanDataFrameColumn("reused", result.Rows.Select(r => (bool?)r.Reused)));
        return new DataFrame(columns);
    }

    /// <summary>
    /// A calibration's choices per linear layer: layer, in and out features, weight and activation format, mean weight
    /// exponent bias, activation bias, the largest pre-shifted offset, the RPTQ cluster count, the FPTQ activation policy
    /// and the layer-output MSE (null where the method does not have it).
    /// </summary>
    public static DataFrame ToDataFrame(this CalibrationResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var layers = result.Layers;
        return new DataFrame(
            new StringDataFrameColumn("layer", layers.Select(l => l.Name)),
            new Int32DataFrameColumn("in", layers.Select(l => (int?)l.InFeatures)),
            new Int32DataFrameColumn("out", layers.Select(l => (int?)l.OutFeatures)),
            new StringDataFrameColumn("weight format", layers.Select(l => l.WeightFormat)),
            new StringDataFrameColumn("activation format", layers.Select(l => l.ActivationFormat)),
            new DoubleDataFrameColumn("mean weight bias", layers.Select(l => l.WeightQuantizer is FpQuantizer { Granularity.Kind: GranularityKind.PerRow } w ? w.Biases.Average() : (double?)null)),
            new DoubleDataFrameColumn("activation bias", layers.Select(l => l.InputQuantizer is FpQuantizer { Biases: [var bias] } ? bias : (double?)null)),
            new Int32DataFrameColumn("max offset", layers.Select(l => l.InputQuantizer is FpQuantizer { Offsets: { Length: > 0 } o } ? o.Max() : (int?)null)),
            new Int32DataFrameColumn("clusters", layers.Select(l => (l.Details as RptqLayerResult)?.InputClusterSizes.Length)),
            new StringDataFrameColumn("activation policy", layers.Select(l => (l.Details as FptqLayerResult)?.Policy.ToString().ToLowerInvariant())),
            new DoubleDataFrameColumn("output MSE", layers.Select(l => l.OutputMse)));
    }

    /// <summary>
    /// Activation statistics, one row per linear input (<see cref="ChannelStatistics"/>): tokens, channels, max|x|, the
    /// median channel's max|x| and their ratio, channels above <paramref name="outlierFactor"/> × the median, the
    /// inter- and intra-channel variance of |x| and the inter-channel share.
    /// </summary>
    public static DataFrame ToDataFrame(this IEnumerable<ChannelStatistics> statistics, double outlierFactor = ChannelStatistics.DefaultOutlierFactor)
    {
        ArgumentNullException.ThrowIfNull(statistics);
        var rows = statistics.ToList();
        return new DataFrame(
            new StringDataFrameColumn("input", rows.Select(s => s.Name)),
            new Int32DataFrameColumn("tokens", rows.Select(s => (int?)s.Tokens)),
            new Int32DataFrameColumn("channels", rows.Select(s => (int?)s.Channels)),
            new DoubleDataFrameColumn("max|x|", rows.Select(s => (double?)s.TensorAbsMax)),
            new DoubleDataFrameColumn("median channel max|x|", rows.Select(s => (double?)s.MedianAbsMax)),
            new DoubleDataFrameColumn("ratio", rows.Select(s => (double?)s.AbsMaxSpread)),
            new Int32DataFrameColumn("outlier channels", rows.Select(s => (int?)s.OutlierChannels(outlierFactor))),
            new DoubleDataFrameColumn("inter-channel var", rows.Select(s => (double?)s.InterChannelVariance)),
            new DoubleDataFrameColumn("intra-channel var", rows.Select(s => (double?)s.IntraChannelVariance)),
            new DoubleDataFrameColumn("inter share", rows.Select(s => (double?)s.InterChannelShare)));
    }

    /// <summary>
    /// Every non-negative code of a format of at most 8 bits, one row each: the code's bits (sign, exponent, mantissa),
    /// exponent and mantissa fields, its value (NaN and ±∞ as the format decodes them) and its kind: zero, subnormal,
    /// normal, or the special value.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The format is wider than 8 bits (its table would have over 128 rows).</exception>
    public static DataFrame ToDataFrame(this FpFormat format)
    {
        ArgumentNullException.ThrowIfNull(format);
        if (format.BitWidth > 8)
            throw new ArgumentOutOfRangeException(nameof(format), format.BitWidth, $"{format} has {format.BitWidth} bits; code tables are for formats of at most 8 bits.");
        int codes = 1 << (format.BitWidth - 1);
        int mantissaMask = (1 << format.MantissaBits) - 1;
        // Decoding at bias 0 and scaling by 2^-bias is exact and works for the non-integer biases Decode refuses.
        var unbiased = format.WithBias(0);
        double scale = Math.Pow(2, -format.Bias);
        var rows = Enumerable.Range(0, codes).Select(code =>
        {
            int exponent = code >> format.MantissaBits;
            double value = unbiased.Decode(code) * scale;
            string kind = double.IsNaN(value) ? "NaN" : double.IsInfinity(value) ? "infinity"
                : value == 0 ? "zero" : exponent == 0 ? "subnormal" : "normal";
            return (Bits: Convert.ToString(code, 2).PadLeft(format.BitWidth, '0'), Exponent: exponent, Mantissa: code & mantissaMask, Value: value, Kind: kind);
        }).ToList();
        return new DataFrame(
            new StringDataFrameColumn("bits", rows.Select(r => r.Bits)),
            new Int32DataFrameColumn("exponent", rows.Select(r => (int?)r.Exponent)),
            new Int32DataFrameColumn("mantissa", rows.Select(r => (int?)r.Mantissa)),
            new DoubleDataFrameColumn("value", rows.Select(r => (double?)r.Value)),
            new StringDataFrameColumn("kind", rows.Select(r => r.Kind)));
    }
}
