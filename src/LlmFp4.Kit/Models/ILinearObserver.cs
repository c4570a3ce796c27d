namespace LlmFp4.Kit.Models;

/// <summary>
/// Capture hook for calibration: called once per linear layer per forward pass with the input the layer
/// received (before its input quantizer, [rows × InFeatures]) and the output it produced
/// ([rows × OutFeatures]). The spans are only valid during the call: copy what you keep.
/// </summary>
public interface ILinearObserver
{
    /// <summary>Sees one call of <paramref name="layer"/>: <paramref name="input"/> [<paramref name="rows"/> × InFeatures] and <paramref name="output"/> [rows × OutFeatures], row-major, rows being tokens.</summary>
    void Observe(LinearLayer layer, ReadOnlySpan<float> input, ReadOnlySpan<float> output, int rows);
}
