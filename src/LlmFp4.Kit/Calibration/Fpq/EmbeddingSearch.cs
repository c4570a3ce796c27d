using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Quantization;

namespace LlmFp4.Kit.Calibration;

/// <summary>
/// The reference code's embedding search: per row, the exponent bias among γ_i·b_init(row) with the smallest squared
/// error of the row itself; per table, the format with the smallest total (there is no layer output to score).
/// </summary>
internal static class EmbeddingSearch
{
    public static (FpQuantizer Quantizer, IReadOnlyList<FormatCurve> Curves) Run(ReadOnlySpan<float> table, int rows, int cols, QuantSpec spec,
        SearchSettings settings, IProgress<CalibrationProgress>? progress)
    {
        var multipliers = settings.Multipliers();
        var formats = spec.SearchFormats;
        var curves = new List<FormatCurve>();
        var choices = new List<double[]>();
        var quantized = new float[cols];
        double count = (double)rows * cols;
        for (int f = 0; f < formats.Count; f++)
        {
            var start = Ranges.RowBiases(formats[f], table, rows, cols);
            var best = Enumerable.Repeat(double.PositiveInfinity, rows).ToArray();
            var bestBias = new double[rows];
            var errors = new double[multipliers.Length];
            for (int i = 0; i < multipliers.Length; i++)
            {
                double total = 0;
                for (int r = 0; r < rows; r++)
                {
                    double bias = multipliers[i] * start[r];
                    double error = FakeQuant.QuantizeWithSquaredError(table.Slice(r * cols, cols), formats[f], FpQuantizer.BiasScale(formats[f], bias), quantized);
                    total += error;
                    if (error < best[r]) (best[r], bestBias[r]) = (error, bias);
                }
                errors[i] = total / count;
            }
            progress?.Report(new(CalibrationStage.Search, $"embedding {CalibrationContext.FormatName(formats[f])}", f + 1, formats.Count));
            curves.Add(new FormatCurve(CalibrationContext.FormatName(formats[f]), errors, -1, best.Sum() / count));
            choices.Add(bestBias);
        }
        int chosen = 0;
        for (int f = 1; f < curves.Count; f++) if (curves[f].BestError < curves[chosen].BestError) chosen = f;
        return (FpQuantizer.PerRow(formats[chosen], choices[chosen]), curves);
    }
}
