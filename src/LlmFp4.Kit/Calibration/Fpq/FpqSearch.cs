using System.Diagnostics;
using System.Numerics.Tensors;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Calibration;

/// <summary>What the search chose for one layer.</summary>
internal sealed record LayerSearchResult(
    LinearLayer Layer,
    FpFormat? WeightFormat,
    double[]? WeightBiases,
    FpFormat? ActivationFormat,
    double? ActivationBias,
    int[]? ActivationOffsets,
    TensorQuantizer? InputQuantizer,
    SearchTrace Trace);

/// <summary>
/// The parts of an FPQ search, as <see cref="CalibrationResult.Timings"/> names them: seconds summed over all groups, and
/// each group's own under <see cref="CalibrationContext.GroupTiming"/>.
/// </summary>
public static class SearchStages
{
    /// <summary>The Gram matrices of a weight phase: XᵀX once per group, ΔᵀΔ and XᵀΔ per activation setting, and their products with W.</summary>
    public const string Grams = "search: Grams";

    /// <summary>Scoring every weight candidate of every format through the Grams (<see cref="GramScorer"/>, <see cref="WeightCodeSweep"/>).</summary>
    public const string WeightCandidates = "search: weight candidates";

    /// <summary>Scoring every activation candidate of every format over the captured tokens (<see cref="ActivationSweep"/>).</summary>
    public const string ActivationSweep = "search: activation sweep";
}

/// <summary>
/// The fast LLM-FP4 search (docs/methods.md §3, §4) for the layers of one <see cref="InputGroup"/>: each layer is searched
/// on its own (objective: the MSE of its output X·Wᵀ on the calibration set), but candidates of the shared input are
/// quantized once for all of them. This class is the round driver (state, alternation, choices, convergence); weight
/// candidates are scored by <see cref="GramScorer"/>, activation candidates by <see cref="ActivationSweep"/>. It chooses
/// what <see cref="ReferenceFpqSearch"/> chooses (a test checks it over several rounds, formats and bit widths); read that
/// one first.
/// </summary>
/// <remarks>
/// <para>Nothing is evaluated with a GEMM over all tokens per candidate. Write X̂ = X + Δ and Ŵ = W + D, so that
/// O − Ô = −(Δ·Wᵀ + X̂·Dᵀ) = −(X·Dᵀ + Δ·Ŵᵀ).</para>
/// <para>Weight phase (X̂ fixed): for output channel j, ‖O_j − Ô_j‖² = w_jᵀ(ΔᵀΔ)w_j + 2 d_j·((X̂ᵀΔ) w_j) + d_jᵀ(X̂ᵀX̂) d_j;
/// every term is an error, so no large numbers cancel. The three in×in Gram matrices are computed once per activation
/// setting; a candidate then costs one [out × in]·[in × in] product, and every row is scored at once, so each picks its
/// own best candidate. Formats with few grid values at many candidates (4 bits at the paper's k = 100) are scored instead
/// by <see cref="WeightCodeSweep"/>, which walks each row's candidates in grid order and updates d_jᵀ(X̂ᵀX̂)d_j only
/// where a quantized code changed, in double.</para>
/// <para>Activation phase (Ŵ fixed): the candidates of one format are swept in grid order and the products X̂·Ŵᵀ are
/// updated only where a quantized input value changed from the previous candidate (<see cref="ActivationSweep"/>); the
/// quantized values change in a few percent of places from one candidate to the next, so a candidate costs a product
/// over those places only, in double.</para>
/// <para>A test checks every curve point against mean((O − Ô)²) computed directly in double, and that the same candidates win.</para>
/// <para>Faithful to the reference code: the multipliers γ_i scale the exponent bias itself (not maxval), around the
/// min-max bias of each format; every format keeps its own biases across rounds and the format is picked by the error
/// at its best biases; rows of the weight pick their own candidate, the activation one per tensor. Differences, on
/// purpose: the grid includes γ2 (the reference loop stops at k − 1, see <see cref="SearchSettings.IncludeEndpoint"/>);
/// FPQ follows the baseline's order (weight bias, weight format, activation bias, activation format) where the
/// reference's FPQ class searches both biases before both formats; the pre-shift offsets are
/// clip(round(b~_j − ρ), 0, 2^e − 1) (docs/methods.md §4) where the reference uses round(b~_j) − round(ρ); and a round whose
/// inputs repeat the previous round's is not recomputed (its result would be identical).</para>
/// </remarks>
internal sealed class FpqSearch
{
    private readonly InputGroup _group;
    private readonly QuantSpec? _weights;
    private readonly QuantSpec? _activations;
    private readonly SearchSettings _settings;
    private readonly double[] _multipliers;
    private readonly bool _preShifted;
    private readonly CalibrationContext? _context;
    private readonly int _tokens, _in;
    private readonly FpFormat[] _weightFormats, _activationFormats;
    private readonly ActivationGrid[] _grids;
    private readonly GramScorer _scorer;
    private readonly KeptChanges? _keptChanges;

    /// <summary>
    /// Prepares the search of <paramref name="group"/>'s layers; <paramref name="context"/>, when given, gets the progress
    /// and the seconds of each part of the search (<see cref="SearchStages"/>).
    /// </summary>
    public FpqSearch(InputGroup group, QuantSpec? weights, QuantSpec? activations, SearchSettings settings, bool preShifted,
        CalibrationContext? context = null)
    {
        _group = group;
        _weights = weights;
        _activations = activations;
        _settings = settings;
        _multipliers = settings.Multipliers();
        _preShifted = preShifted;
        _context = context;
        _tokens = group.Tokens;
        _in = group.Features;
        _weightFormats = weights is null ? [] : [.. weights.SearchFormats];
        _activationFormats = activations is null ? [] : [.. activations.SearchFormats];
        _grids = [.. _activationFormats.Select(f => new ActivationGrid(f, group.Inputs, _tokens, _in, _multipliers, preShifted))];
        _scorer = new GramScorer(group, _grids);
        _keptChanges = settings.Rounds > 1 && activations is not null ? new KeptChanges(KeptChanges.DefaultBudgetBytes) : null;
    }

    public IReadOnlyList<LayerSearchResult> Run()
    {
        var states = _group.Layers.Select(NewState).ToList();
        for (int round = 1; round <= _settings.Rounds; round++)
        {
            var active = states.Where(s => s.ConvergedAfterRound is null).ToList();
            if (active.Count == 0) break;
            var weightCurves = active.ToDictionary(s => s, s => _weights is null ? [] : WeightPhase(s, round));
            Calibrator.CollectGroupGarbage();

            var repeated = round > 1 && _activations is not null ? active.Where(SameWeightsAsLastRound).ToHashSet() : [];
            var searched = _activations is null ? [] : active.Where(s => !repeated.Contains(s)).ToList();
            var activationCurves = searched.Count > 0 ? ActivationPhase(searched, round) : [];
            Calibrator.CollectGroupGarbage();

            foreach (var state in active)
            {
                bool repeat = repeated.Contains(state);
                var curves = activationCurves.TryGetValue(state, out var c) ? c : repeat ? state.Rounds[^1].Activation : [];
                state.Rounds.Add(new SearchRound(round, weightCurves[state], _weights is null ? null : Name(_weightFormats[state.WeightFormat]),
                    curves, _activations is null ? null : Name(_activationFormats[state.ActivationFormat]), repeat));
                if (repeat)
                    state.ConvergedAfterRound = round - 1;
                else if (state.ActivationFormat == state.PreviousActivationFormat && state.ActivationIndex.AsSpan().SequenceEqual(state.PreviousActivationIndex))
                    state.ConvergedAfterRound = round;
                state.PreviousActivationFormat = state.ActivationFormat;
                state.PreviousActivationIndex = [.. state.ActivationIndex];
                state.PreviousWeightFormat = state.WeightFormat;
                state.PreviousRowIndex = _weights is null ? [] : [.. state.RowIndex[state.WeightFormat]];
            }
        }
        return [.. states.Select(Result)];
    }

    // ------------------------------------------------------------------ state

    private sealed class LayerState(LinearLayer layer)
    {
        public LinearLayer Layer { get; } = layer;
        public float[] Weight => Layer.Weight;

        /// <summary>Per weight format: each row's starting bias (min-max) and chosen candidate (-1 = the start).</summary>
        public double[][] RowStart = [];
        public int[][] RowIndex = [];
        public int WeightFormat;
        public int PreviousWeightFormat = -1;
        public int[] PreviousRowIndex = [];

        /// <summary>Per activation format: the chosen candidate (-1 = the min-max start).</summary>
        public int[] ActivationIndex = [];
        public int ActivationFormat;
        public int PreviousActivationFormat;
        public int[] PreviousActivationIndex = [];

        public List<SearchRound> Rounds { get; } = [];
        public int? ConvergedAfterRound;
    }

    /// <summary>True when the weights the activation phase would see are those of the previous round (so it would repeat itself).</summary>
    private bool SameWeightsAsLastRound(LayerState state) =>
        _weights is null || (state.WeightFormat == state.PreviousWeightFormat && state.RowIndex[state.WeightFormat].AsSpan().SequenceEqual(state.PreviousRowIndex));

    private LayerState NewState(LinearLayer layer)
    {
        var state = new LayerState(layer);
        if (_weights is not null)
        {
            state.RowStart = [.. _weightFormats.Select(f => Ranges.RowBiases(f, layer.Weight, layer.OutFeatures, layer.InFeatures))];
            state.RowIndex = [.. _weightFormats.Select(_ => Enumerable.Repeat(-1, layer.OutFeatures).ToArray())];
            state.WeightFormat = StartIndex(_weightFormats, _weights);
        }
        if (_activations is not null)
        {
            state.ActivationIndex = Enumerable.Repeat(-1, _activationFormats.Length).ToArray();
            state.ActivationFormat = StartIndex(_activationFormats, _activations);
            state.PreviousActivationFormat = state.ActivationFormat;
            state.PreviousActivationIndex = [.. state.ActivationIndex];
        }
        return state;
    }

    private static int StartIndex(FpFormat[] formats, QuantSpec spec)
    {
        int index = Array.FindIndex(formats, f => f.ExponentBits == spec.ExponentBits);
        return index >= 0 ? index : throw new ArgumentException($"{spec}: the starting format E{spec.ExponentBits}M{spec.Bits - 1 - spec.ExponentBits} is not among the searched formats.");
    }

    private double WeightBias(LayerState state, int format, int row, int index) =>
        index < 0 ? state.RowStart[format][row] : _multipliers[index] * state.RowStart[format][row];

    private float[] RowScales(LayerState state, int format, Func<int, int> indexOfRow)
    {
        var scales = new float[state.Layer.OutFeatures];
        for (int r = 0; r < scales.Length; r++)
            scales[r] = FpQuantizer.BiasScale(_weightFormats[format], WeightBias(state, format, r, indexOfRow(r)));
        return scales;
    }

    /// <summary>The layer's weights at its current state (full precision when weights are not quantized).</summary>
    private float[] QuantizedWeight(LayerState state)
    {
        if (_weights is null) return state.Weight;
        int format = state.WeightFormat;
        var scales = RowScales(state, format, r => state.RowIndex[format][r]);
        var result = new float[state.Weight.Length];
        FpQuantizer.QuantizeMatrix(state.Weight, state.Layer.OutFeatures, state.Layer.InFeatures, _weightFormats[format], Granularity.PerRow, scales, result);
        return result;
    }

    private LayerSearchResult Result(LayerState state)
    {
        var layer = state.Layer;
        FpFormat? weightFormat = null, activationFormat = null;
        double[]? biases = null;
        if (_weights is not null)
        {
            int f = state.WeightFormat;
            weightFormat = _weightFormats[f];
            biases = [.. Enumerable.Range(0, layer.OutFeatures).Select(r => WeightBias(state, f, r, state.RowIndex[f][r]))];
        }
        double? activationBias = null;
        int[]? offsets = null;
        TensorQuantizer? quantizer = null;
        if (_activations is not null)
        {
            var grid = _grids[state.ActivationFormat];
            int index = state.ActivationIndex[state.ActivationFormat];
            activationFormat = grid.Format;
            activationBias = grid.Bias(index);
            offsets = _preShifted ? grid.Offsets(activationBias.Value) : null;
            quantizer = grid.Quantizer(index);
        }
        return new LayerSearchResult(layer, weightFormat, biases, activationFormat, activationBias, offsets, quantizer,
            new SearchTrace(state.Rounds, state.ConvergedAfterRound));
    }

    // ------------------------------------------------------------------ phases

    /// <summary>Weight bias per format (each row its own best candidate), then the weight format; the input at its current setting.</summary>
    private IReadOnlyList<FormatCurve> WeightPhase(LayerState state, int round)
    {
        var layer = state.Layer;
        int rows = layer.OutFeatures;
        var clock = Stopwatch.StartNew();
        var scoring = _scorer.BeginWeightPhase(layer.Weight, rows,
            _activations is null ? null : (state.ActivationFormat, state.ActivationIndex[state.ActivationFormat]));
        AddTime(SearchStages.Grams, clock);
        var rowErrors = _weightFormats.Select(_ => _multipliers.Select(_ => new double[rows]).ToArray()).ToArray();
        scoring.RowErrors(_weightFormats, [.. Enumerable.Range(0, _weightFormats.Length)
            .Select(f => (IReadOnlyList<float[]>)[.. Enumerable.Range(0, _multipliers.Length).Select(i => RowScales(state, f, _ => i))])], rowErrors);
        _context?.Report(CalibrationStage.Search, $"{layer.Name} round {round} weights", 1, 1);
        double normalizer = (double)_tokens * rows;
        var curves = new List<FormatCurve>();
        for (int f = 0; f < _weightFormats.Length; f++)
        {
            var best = Enumerable.Repeat(double.PositiveInfinity, rows).ToArray();
            var bestIndex = new int[rows];
            var errors = new double[_multipliers.Length];
            for (int i = 0; i < _multipliers.Length; i++)
            {
                var candidateErrors = rowErrors[f][i];
                double total = 0;
                for (int r = 0; r < rows; r++)
                {
                    total += candidateErrors[r];
                    if (candidateErrors[r] < best[r])
                    {
                        best[r] = candidateErrors[r];
                        bestIndex[r] = i;
                    }
                }
                errors[i] = total / normalizer;
            }
            state.RowIndex[f] = bestIndex;
            curves.Add(new FormatCurve(Name(_weightFormats[f]), errors, -1, best.Sum() / normalizer));
        }
        state.WeightFormat = ArgMin(curves.Select(c => c.BestError));
        AddTime(SearchStages.WeightCandidates, clock);
        return curves;
    }

    /// <summary>Activation bias per format (one per tensor), then the activation format, for the layers of the group at once; weights at their current setting.</summary>
    private Dictionary<LayerState, IReadOnlyList<FormatCurve>> ActivationPhase(List<LayerState> states, int round)
    {
        var clock = Stopwatch.StartNew();
        var sweep = new ActivationSweep(_group, [.. states.Select(s => (s.Weight, QuantizedWeight(s), s.Layer.OutFeatures))], kept: _keptChanges);
        string item = $"{_group.Name} round {round} activations";
        var errors = sweep.Errors(_grids, _multipliers.Length, (done, total) => _context?.Report(CalibrationStage.Search, item, done, total));

        var result = new Dictionary<LayerState, IReadOnlyList<FormatCurve>>();
        for (int l = 0; l < states.Count; l++)
        {
            var state = states[l];
            var curves = new List<FormatCurve>();
            for (int f = 0; f < _activationFormats.Length; f++)
            {
                var e = errors[f][l];
                int best = ArgMin(e);
                state.ActivationIndex[f] = best;
                curves.Add(new FormatCurve(Name(_activationFormats[f]), e, best, e[best]));
            }
            state.ActivationFormat = ArgMin(curves.Select(c => c.BestError));
            result[state] = curves;
        }
        AddTime(SearchStages.ActivationSweep, clock);
        return result;
    }

    /// <summary>Adds the clock's time to <paramref name="stage"/> of the context's timings, in all and for this group, and restarts it.</summary>
    private void AddTime(string stage, Stopwatch clock)
    {
        _context?.AddTime(stage, clock.Elapsed.TotalSeconds, _group);
        clock.Restart();
    }

    /// <summary>Index of the smallest value, the first on ties.</summary>
    internal static int ArgMin(IEnumerable<double> values)
    {
        int best = -1, index = 0;
        double bestValue = double.PositiveInfinity;
        foreach (double v in values)
        {
            if (best < 0 || v < bestValue) (best, bestValue) = (index, v);
            index++;
        }
        return best;
    }

    private static string Name(FpFormat format) => CalibrationContext.FormatName(format);
}

/// <summary>
/// The activation candidates of one input group in one FP format: biases γ_i·b_init around the min-max bias
/// b_init of the whole tensor, or, pre-shifted (FPQ), a shared ρ_i = γ_i·ρ_init with ρ_init = min_j b~_j over
/// the per-channel min-max biases and integer offsets o_j = clip(round(b~_j − ρ_i), 0, 2^e − 1). Index -1 is the
/// start itself (γ = 1).
/// </summary>
internal sealed class ActivationGrid
{
    private readonly double[] _multipliers;
    private readonly double[]? _channelBiases;

    public ActivationGrid(FpFormat format, ReadOnlySpan<float> inputs, int tokens, int features, double[] multipliers, bool preShifted)
    {
        Format = format;
        _multipliers = multipliers;
        if (preShifted)
        {
            // An all-zero channel constrains nothing: its bias is +∞ (it takes the largest offset), and ρ starts from the
            // other channels (the format's own bias when every channel is zero).
            _channelBiases = [.. Ranges.ColumnAbsMax(inputs, tokens, features).Select(m => m == 0 ? double.PositiveInfinity : format.BiasForMaxValue(m))];
            double smallest = _channelBiases.Min();
            StartBias = double.IsFinite(smallest) ? smallest : format.Bias;
        }
        else
        {
            StartBias = format.BiasForMaxValue(Ranges.AbsMax(inputs));
        }
    }

    public FpFormat Format { get; }

    /// <summary>True for FPQ's per-channel pre-shifted bias.</summary>
    public bool PreShifted => _channelBiases is not null;

    /// <summary>b_init (per tensor) or ρ_init (pre-shifted).</summary>
    public double StartBias { get; }

    public double Bias(int index) => index < 0 ? StartBias : _multipliers[index] * StartBias;

    /// <summary>Integer offsets of the channels for shared bias <paramref name="rho"/>; an all-zero channel takes the largest.</summary>
    public int[] Offsets(double rho)
    {
        if (_channelBiases is null) throw new InvalidOperationException("Offsets exist only for the pre-shifted bias.");
        int largest = (1 << Format.ExponentBits) - 1;
        var offsets = new int[_channelBiases.Length];
        for (int j = 0; j < offsets.Length; j++)
        {
            double shift = Math.Round(_channelBiases[j] - rho, MidpointRounding.ToEven);
            offsets[j] = double.IsNaN(shift) ? largest : (int)Math.Clamp(shift, 0, largest);
        }
        return offsets;
    }

    public TensorQuantizer Quantizer(int index)
    {
        double bias = Bias(index);
        return _channelBiases is null ? FpQuantizer.PerTensor(Format, bias) : FpQuantizer.PreShifted(Format, bias, Offsets(bias));
    }
}
