namespace LlmFp4.Kit.Calibration;

/// <summary>
/// One format's search curve: the layer-output MSE for every candidate of the grid (index i ↔ multiplier γ_i of
/// <see cref="Quantization.SearchSettings.Multipliers"/>). For weights, candidate i means every output channel at
/// γ_i·b_init of its own row, and <see cref="BestError"/> is the error with each row at its own best candidate; for
/// activations <see cref="BestError"/> = Errors[BestIndex].
/// </summary>
public sealed record FormatCurve(string Format, double[] Errors, int BestIndex, double BestError);

/// <summary>
/// One round of the alternation: weight bias per format → weight format → activation bias per format → activation
/// format. A phase whose inputs did not change since the previous round is not recomputed (<see cref="ActivationRepeated"/>).
/// </summary>
public sealed record SearchRound(
    int Round,
    IReadOnlyList<FormatCurve> Weight,
    string? WeightFormat,
    IReadOnlyList<FormatCurve> Activation,
    string? ActivationFormat,
    bool ActivationRepeated);

/// <summary>The search of one layer: its rounds, and after which round its state stopped changing (later rounds would repeat it exactly).</summary>
public sealed record SearchTrace(IReadOnlyList<SearchRound> Rounds, int? ConvergedAfterRound);
