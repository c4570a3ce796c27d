using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Quantization;

namespace LlmFp4.Kit.Calibration;

/// <summary>
/// The LLM-FP4 search written the way the paper describes it (docs/methods.md §3, §4), to read and to check
/// <see cref="FpqSearch"/> against: for every candidate, quantize, run the layer, measure the output error. Per layer,
/// for R rounds:
/// <list type="number">
/// <item>weight bias: for each weight format f and each γ_i, quantize row r of W with bias γ_i·b_init(f, r), run
/// X̂·Ŵᵀ with the activation at its current setting, and let each row keep its own best γ_i;</item>
/// <item>weight format: the f whose rows at their best give the smallest error;</item>
/// <item>activation bias: for each activation format f and each γ_i, quantize X with bias γ_i·b_init(f) (FPQ: the
/// shared ρ_i = γ_i·ρ_init with the per-channel integer offsets), run X̂·Ŵᵀ, keep the best γ_i;</item>
/// <item>activation format: the f whose best is smallest.</item>
/// </list>
/// Errors are mean((X·Wᵀ − X̂·Ŵᵀ)²) computed directly in double; ties go to the first candidate and the first format.
/// Slow (a full product per candidate) and meant for small layers: the calibrators use <see cref="FpqSearch"/>.
/// </summary>
internal static class ReferenceFpqSearch
{
    public static IReadOnlyList<LayerSearchResult> Run(InputGroup group, QuantSpec? weights, QuantSpec? activations, SearchSettings settings, bool preShifted)
    {
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(settings);
        double[] gamma = settings.Multipliers();
        var weightFormats = weights?.SearchFormats ?? [];
        var activationFormats = activations?.SearchFormats ?? [];
        var grids = activationFormats.Select(f => new ActivationGrid(f, group.Inputs, group.Tokens, group.Features, gamma, preShifted)).ToArray();
        return [.. group.Layers.Select(layer => SearchLayer(group, layer.Weight, layer, weights, activations, settings.Rounds, gamma, weightFormats, grids))];
    }

    private static LayerSearchResult SearchLayer(InputGroup group, float[] w, Models.LinearLayer layer, QuantSpec? weights, QuantSpec? activations,
        int roundCount, double[] gamma, IReadOnlyList<FpFormat> weightFormats, ActivationGrid[] grids)
    {
        int rows = layer.OutFeatures, cols = layer.InFeatures, tokens = group.Tokens;
        double normalizer = (double)tokens * rows;
        var reference = Product(group.Inputs, w, tokens, rows, cols);

        // Starting point: every format at its min-max bias (candidate -1), the spec's starting formats chosen.
        var startBias = weightFormats.Select(f => Ranges.RowBiases(f, w, rows, cols)).ToArray();
        var rowChoice = weightFormats.Select(_ => Enumerable.Repeat(-1, rows).ToArray()).ToArray();
        int weightFormat = weights is null ? -1 : IndexOf(weightFormats, weights.ExponentBits);
        var activationChoice = Enumerable.Repeat(-1, grids.Length).ToArray();
        int activationFormat = activations is null ? -1 : IndexOf([.. grids.Select(g => g.Format)], activations.ExponentBits);

        double RowBias(int f, int r, int i) => i < 0 ? startBias[f][r] : gamma[i] * startBias[f][r];
        float[] QuantizedWeight(int f, Func<int, int> choice) => FpQuantizer.PerRow(weightFormats[f],
            [.. Enumerable.Range(0, rows).Select(r => RowBias(f, r, choice(r)))]).Quantize(w, rows, cols);
        float[] CurrentWeight() => weightFormat < 0 ? w : QuantizedWeight(weightFormat, r => rowChoice[weightFormat][r]);
        float[] CurrentInput() => activationFormat < 0 ? group.Inputs
            : grids[activationFormat].Quantizer(activationChoice[activationFormat]).Quantize(group.Inputs, tokens, cols);

        var rounds = new List<SearchRound>();
        for (int round = 1; round <= roundCount; round++)
        {
            var weightCurves = new List<FormatCurve>();
            if (weights is not null)
            {
                var input = CurrentInput();
                for (int f = 0; f < weightFormats.Count; f++)
                {
                    var best = Enumerable.Repeat(double.PositiveInfinity, rows).ToArray();
                    var errors = new double[gamma.Length];
                    for (int i = 0; i < gamma.Length; i++)
                    {
                        var rowErrors = RowErrors(reference, Product(input, QuantizedWeight(f, _ => i), tokens, rows, cols), tokens, rows);
                        errors[i] = rowErrors.Sum() / normalizer;
                        for (int r = 0; r < rows; r++)
                            if (rowErrors[r] < best[r]) (best[r], rowChoice[f][r]) = (rowErrors[r], i);
                    }
                    weightCurves.Add(new FormatCurve(CalibrationContext.FormatName(weightFormats[f]), errors, -1, best.Sum() / normalizer));
                }
                weightFormat = FpqSearch.ArgMin(weightCurves.Select(c => c.BestError));
            }

            var activationCurves = new List<FormatCurve>();
            if (activations is not null)
            {
                var quantizedWeight = CurrentWeight();
                for (int f = 0; f < grids.Length; f++)
                {
                    var errors = new double[gamma.Length];
                    for (int i = 0; i < gamma.Length; i++)
                    {
                        var input = grids[f].Quantizer(i).Quantize(group.Inputs, tokens, cols);
                        errors[i] = RowErrors(reference, Product(input, quantizedWeight, tokens, rows, cols), tokens, rows).Sum() / normalizer;
                    }
                    activationChoice[f] = FpqSearch.ArgMin(errors);
                    activationCurves.Add(new FormatCurve(CalibrationContext.FormatName(grids[f].Format), errors, activationChoice[f], errors[activationChoice[f]]));
                }
                activationFormat = FpqSearch.ArgMin(activationCurves.Select(c => c.BestError));
            }
            rounds.Add(new SearchRound(round, weightCurves, weights is null ? null : CalibrationContext.FormatName(weightFormats[weightFormat]),
                activationCurves, activations is null ? null : CalibrationContext.FormatName(grids[activationFormat].Format), false));
        }

        double[]? biases = weights is null ? null : [.. Enumerable.Range(0, rows).Select(r => RowBias(weightFormat, r, rowChoice[weightFormat][r]))];
        ActivationGrid? grid = activations is null ? null : grids[activationFormat];
        int chosen = activations is null ? -1 : activationChoice[activationFormat];
        double? activationBias = grid?.Bias(chosen);
        return new LayerSearchResult(layer, weights is null ? null : weightFormats[weightFormat], biases, grid?.Format, activationBias,
            grid is not null && grid.PreShifted ? grid.Offsets(activationBias!.Value) : null, grid?.Quantizer(chosen), new SearchTrace(rounds, null));
    }

    /// <summary>X·Wᵀ in double: X [tokens × cols], W [rows × cols].</summary>
    private static double[] Product(float[] x, float[] w, int tokens, int rows, int cols)
    {
        var result = new double[tokens * rows];
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < rows; r++)
            {
                double sum = 0;
                for (int c = 0; c < cols; c++) sum += (double)x[t * cols + c] * w[r * cols + c];
                result[t * rows + r] = sum;
            }
        return result;
    }

    /// <summary>Σ over tokens of (reference − output)² per output channel.</summary>
    private static double[] RowErrors(double[] reference, double[] output, int tokens, int rows)
    {
        var errors = new double[rows];
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < rows; r++)
            {
                double d = reference[t * rows + r] - output[t * rows + r];
                errors[r] += d * d;
            }
        return errors;
    }

    private static int IndexOf(IReadOnlyList<FpFormat> formats, int exponentBits)
    {
        for (int f = 0; f < formats.Count; f++) if (formats[f].ExponentBits == exponentBits) return f;
        throw new ArgumentException($"The starting format with {exponentBits} exponent bits is not among the searched formats.");
    }
}
