namespace LlmFp4.Kit.Tensors;

/// <summary>
/// The summation order of <see cref="ManagedGemm"/> in plain scalar loops: for each element, beta·C first, then per
/// block of <see cref="ManagedGemm.DepthBlock"/> consecutive k a float32 sum from zero with one fused multiply-add
/// per term in ascending k, added into C as <c>fma(sum, alpha, C)</c>. The managed kernel must give these bytes on
/// every vector width, tile and thread count; far too slow for real work.
/// </summary>
public sealed class ScalarGemm : IGemmBackend
{
    /// <inheritdoc/>
    public string Name => "scalar reference of the managed kernel's summation order";

    /// <inheritdoc/>
    public string Version => ManagedGemm.OrderVersion;

    /// <inheritdoc/>
    public void MatMul(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k,
        bool transposeA, bool transposeB, float alpha, float beta)
    {
        ManagedGemm.ScaleC(c, beta);
        if (alpha == 0) return;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                for (int p0 = 0; p0 < k; p0 += ManagedGemm.DepthBlock)
                {
                    float sum = 0;
                    for (int p = p0; p < Math.Min(k, p0 + ManagedGemm.DepthBlock); p++)
                    {
                        float x = transposeA ? a[p * m + i] : a[i * k + p];
                        float y = transposeB ? b[j * k + p] : b[p * n + j];
                        sum = MathF.FusedMultiplyAdd(x, y, sum);
                    }
                    c[i * n + j] = MathF.FusedMultiplyAdd(sum, alpha, c[i * n + j]);
                }
    }
}
