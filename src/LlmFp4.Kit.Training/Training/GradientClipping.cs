namespace LlmFp4.Kit.Training;

/// <summary>Clipping of the whole gradient by its global L2 norm (<c>torch.nn.utils.clip_grad_norm_</c>).</summary>
public static class GradientClipping
{
    /// <summary>
    /// L2 norm of <paramref name="gradients"/>, summed in double over fixed chunks in order, so the result does not
    /// depend on threads. NaN anywhere gives NaN.
    /// </summary>
    public static double GlobalNorm(ReadOnlySpan<float> gradients)
    {
        const int chunk = 4096;
        double sum = 0;
        for (int start = 0; start < gradients.Length; start += chunk)
            sum += System.Numerics.Tensors.TensorPrimitives.SumOfSquares(gradients.Slice(start, Math.Min(chunk, gradients.Length - start)));
        return Math.Sqrt(sum);
    }

    /// <summary>
    /// Scales <paramref name="gradients"/> by <c>maxNorm / (norm + 1e-6)</c> when their global norm exceeds
    /// <paramref name="maxNorm"/> (PyTorch's rule); returns the norm before clipping. A maxNorm of 0 only measures.
    /// A NaN or infinite norm leaves the gradients unchanged (the caller decides what to do with the step).
    /// </summary>
    public static double ClipByGlobalNorm(Span<float> gradients, double maxNorm)
    {
        double norm = GlobalNorm(gradients);
        if (maxNorm > 0 && double.IsFinite(norm) && norm > maxNorm)
            System.Numerics.Tensors.TensorPrimitives.Multiply(gradients, (float)(maxNorm / (norm + 1e-6)), gradients);
        return norm;
    }
}
