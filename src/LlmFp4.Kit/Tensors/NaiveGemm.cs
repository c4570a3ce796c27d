namespace LlmFp4.Kit.Tensors;

/// <summary>
/// The definition of GEMM as three loops, accumulating in double: the reference the fast backends are
/// tested against. Far too slow for real work.
/// </summary>
public sealed class NaiveGemm : IGemmBackend
{
    /// <inheritdoc/>
    public string Name => "naive reference (scalar, double accumulation)";

    /// <inheritdoc/>
    public string Version => "naive: ascending k, double accumulation";

    /// <inheritdoc/>
    public void MatMul(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k,
        bool transposeA, bool transposeB, float alpha, float beta)
    {
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int p = 0; p < k; p++)
                {
                    float x = transposeA ? a[p * m + i] : a[i * k + p];
                    float y = transposeB ? b[j * k + p] : b[p * n + j];
                    sum += (double)x * y;
                }
                double previous = beta == 0 ? 0 : (double)beta * c[i * n + j];
                c[i * n + j] = (float)(alpha * sum + previous);
            }
        }
    }
}
