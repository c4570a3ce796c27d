namespace LlmFp4.Kit.Quantization;

/// <summary>
/// Fake quantization at one point of a model: replaces a row-major [rows × cols] block by its quantized
/// values, in place (quantize, then dequantize back to float). Rows are tokens (or, for attention
/// probabilities, query positions); cols are channels.
/// </summary>
public interface ITensorQuantizer
{
    /// <summary>Fake-quantizes the row-major [<paramref name="rows"/> × <paramref name="cols"/>] block <paramref name="values"/> in place.</summary>
    /// <exception cref="ArgumentException"><paramref name="values"/> does not hold rows · cols elements, or the quantizer's parameters do not fit this shape.</exception>
    void Apply(Span<float> values, int rows, int cols);
}
