namespace LlmFp4.Kit.Tensors;

/// <summary>
/// One implementation of single-precision GEMM. Callers go through <see cref="Gemm.MatMul"/>, which checks
/// arguments before a backend sees them.
/// </summary>
public interface IGemmBackend
{
    /// <summary>Human-readable description, e.g. "OpenBLAS 0.3.21 (libopenblas.so.0, pthread, 2 threads)".</summary>
    string Name { get; }

    /// <summary>
    /// What fixes this backend's bytes for given inputs (its summation order, or library version and kernel), recorded
    /// in every result's <see cref="Provenance"/>; results agree bit for bit where it agrees.
    /// </summary>
    string Version { get; }

    /// <summary>
    /// Row-major <c>C[m×n] = alpha·op(A)·op(B) + beta·C</c>, where op(A) is [m×k] (A stored [k×m] when
    /// transposed) and op(B) is [k×n] (B stored [n×k] when transposed). Spans are already length-checked.
    /// When beta is 0, C is overwritten (NaN in C does not propagate), as in BLAS.
    /// </summary>
    void MatMul(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k,
        bool transposeA, bool transposeB, float alpha, float beta);
}
