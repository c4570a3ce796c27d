using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Training;

/// <summary>A bias-free linear layer <c>Y = X·Wᵀ</c> (W stored [out × in], as Hugging Face) and its gradients, via <see cref="Gemm"/>.</summary>
public static class Linear
{
    /// <summary><c>y[rows × out] = x[rows × in] · wᵀ</c>.</summary>
    public static void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> y, int rows, int inFeatures, int outFeatures) =>
        Gemm.MatMul(x, w, y, rows, outFeatures, inFeatures, transposeB: true);

    /// <summary>
    /// Adds <c>dyᵀ·x</c> to <paramref name="dw"/> ([out × in]) and writes <c>dy·w</c> to <paramref name="dx"/>, or adds it when
    /// <paramref name="accumulateDx"/> (several layers reading the same input). An empty <paramref name="dx"/> skips it.
    /// </summary>
    public static void Backward(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> dy, Span<float> dx, Span<float> dw,
        int rows, int inFeatures, int outFeatures, bool accumulateDx = false)
    {
        Gemm.MatMul(dy, x, dw, outFeatures, inFeatures, rows, transposeA: true, beta: 1);
        if (!dx.IsEmpty) Gemm.MatMul(dy, w, dx, rows, inFeatures, outFeatures, beta: accumulateDx ? 1 : 0);
    }
}
