using System.Buffers;
using LlmFp4.Kit.Tensors;
using System.Numerics.Tensors;

namespace LlmFp4.Kit.Training;

/// <summary>
/// A bias-free linear layer <c>Y = X·Wᵀ</c> (W stored [out × in], as Hugging Face) and its gradients, via <see cref="Gemm"/>.
/// Large products are split into two halves run in parallel: by rows for Y and dX (the halves do not interact), and
/// by the summed-over rows for dW, whose second half is added after the first; the split is fixed, so results do not
/// depend on the number of cores.
/// </summary>
public static class Linear
{
    private const int SplitRows = 256;

    /// <summary><c>y[rows × out] = x[rows × in] · wᵀ</c>.</summary>
    public static void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> y, int rows, int inFeatures, int outFeatures) =>
        RowProduct(x, w, y, rows, outFeatures, inFeatures, transposeB: true, beta: 0);

    /// <summary>
    /// Adds <c>dyᵀ·x</c> to <paramref name="dw"/> ([out × in]) and writes <c>dy·w</c> to <paramref name="dx"/>, or adds it when
    /// <paramref name="accumulateDx"/> (several layers reading the same input). An empty <paramref name="dx"/> skips it.
    /// </summary>
    public static unsafe void Backward(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> dy, Span<float> dx, Span<float> dw,
        int rows, int inFeatures, int outFeatures, bool accumulateDx = false)
    {
        if (x.Length < (long)rows * inFeatures || dy.Length < (long)rows * outFeatures || dw.Length < (long)outFeatures * inFeatures)
            throw new ArgumentException($"Linear: x ({x.Length}), dy ({dy.Length}) or dw ({dw.Length}) too short for {rows} rows, {inFeatures} → {outFeatures}.");
        if (rows < SplitRows)
        {
            Gemm.MatMul(dy, x, dw, outFeatures, inFeatures, rows, transposeA: true, beta: 1);
        }
        else
        {
            int half = rows / 2, weights = outFeatures * inFeatures;
            float[] partial = ArrayPool<float>.Shared.Rent(weights);
            fixed (float* px = x, pdy = dy, pdw = dw)
            fixed (float* pPartial = partial)
            {
                float* xp = px, dyp = pdy, dwp = pdw, partialp = pPartial;
                Parallel.Invoke(
                    () => Gemm.MatMul(new ReadOnlySpan<float>(dyp, half * outFeatures), new ReadOnlySpan<float>(xp, half * inFeatures),
                        new Span<float>(dwp, weights), outFeatures, inFeatures, half, transposeA: true, beta: 1),
                    () => Gemm.MatMul(new ReadOnlySpan<float>(dyp + (long)half * outFeatures, (rows - half) * outFeatures),
                        new ReadOnlySpan<float>(xp + (long)half * inFeatures, (rows - half) * inFeatures),
                        new Span<float>(partialp, weights), outFeatures, inFeatures, rows - half, transposeA: true, beta: 0));
            }
            TensorPrimitives.Add(dw[..weights], partial.AsSpan(0, weights), dw);
            ArrayPool<float>.Shared.Return(partial);
        }
        if (!dx.IsEmpty) RowProduct(dy, w, dx, rows, inFeatures, outFeatures, transposeB: false, beta: accumulateDx ? 1 : 0);
    }

    /// <summary><c>c = a·op(b) + beta·c</c> for row-major a [rows × k], split into two row halves run in parallel.</summary>
    private static unsafe void RowProduct(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int rows, int n, int k, bool transposeB, float beta)
    {
        if (rows < SplitRows)
        {
            Gemm.MatMul(a, b, c, rows, n, k, transposeB: transposeB, beta: beta);
            return;
        }
        if (a.Length < (long)rows * k || b.Length < (long)n * k || c.Length < (long)rows * n)
            throw new ArgumentException($"Linear: a ({a.Length}), b ({b.Length}) or c ({c.Length}) too short for [{rows}×{k}]·[{k}×{n}].");
        int half = rows / 2;
        fixed (float* pa = a, pb = b, pc = c)
        {
            float* ap = pa, bp = pb, cp = pc;
            int bLength = n * k;
            Parallel.Invoke(
                () => Gemm.MatMul(new ReadOnlySpan<float>(ap, half * k), new ReadOnlySpan<float>(bp, bLength), new Span<float>(cp, half * n),
                    half, n, k, transposeB: transposeB, beta: beta),
                () => Gemm.MatMul(new ReadOnlySpan<float>(ap + (long)half * k, (rows - half) * k), new ReadOnlySpan<float>(bp, bLength),
                    new Span<float>(cp + (long)half * n, (rows - half) * n), rows - half, n, k, transposeB: transposeB, beta: beta));
        }
    }
}
