using LlmFp4.Kit.Models;
using System.Numerics.Tensors;

namespace LlmFp4.Kit.Training;

/// <summary>Softmax cross-entropy of next-token logits, fused with its gradient.</summary>
public static class CrossEntropy
{
    /// <summary>
    /// For each row r of <paramref name="logits"/> ([rows × vocab]): writes <c>losses[r] = logsumexp(row) − row[target]</c>
    /// and, when <paramref name="gradientScale"/> is not 0, overwrites the row with its gradient
    /// <c>(softmax(row) − onehot(target))·gradientScale</c> (pass 1/tokens for the gradient of the mean loss).
    /// Rows run in parallel; each row's result does not depend on the partitioning.
    /// </summary>
    public static void Forward(Span<float> logits, ReadOnlySpan<int> targets, int vocab, float gradientScale, Span<double> losses)
    {
        int rows = targets.Length;
        if (vocab <= 0 || logits.Length < (long)rows * vocab)
            throw new ArgumentException($"CrossEntropy: logits have {logits.Length} elements, need {(long)rows * vocab} for {rows} rows × vocabulary {vocab}.");
        if (losses.Length < rows) throw new ArgumentException($"CrossEntropy: losses has {losses.Length} elements, needs {rows}.");
        foreach (int target in targets)
            if ((uint)target >= (uint)vocab) throw new ArgumentException($"CrossEntropy: target id {target} is outside the vocabulary 0..{vocab - 1}.");
        unsafe
        {
            fixed (float* pLogits = logits)
            fixed (int* pTargets = targets)
            fixed (double* pLosses = losses)
            {
                float* l = pLogits; int* t = pTargets; double* o = pLosses;
                Parallel.For(0, rows, r =>
                {
                    var row = new Span<float>(l + (long)r * vocab, vocab);
                    int target = t[r];
                    float logSumExp = Softmax.LogSumExp(row);
                    o[r] = (double)logSumExp - row[target];
                    if (gradientScale == 0) return;
                    TensorPrimitives.Subtract(row, logSumExp, row);
                    TensorPrimitives.Exp(row, row);
                    TensorPrimitives.Multiply(row, gradientScale, row);
                    row[target] -= gradientScale;
                });
            }
        }
    }
}
