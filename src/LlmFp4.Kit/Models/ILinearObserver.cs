namespace LlmFp4.Kit.Models;

/// <summary>
/// Capture hook for calibration: called once per linear layer per forward pass with the input the layer
/// received (before its input quantizer, [rows × InFeatures]) and the output it produced
/// ([rows × OutFeatures]). The spans are only valid during the call: copy what you keep.
/// </summary>
public interface ILinearObserver
{
    void Observe(LinearLayer layer, ReadOnlySpan<float> input, ReadOnlySpan<float> output, int rows);
}
