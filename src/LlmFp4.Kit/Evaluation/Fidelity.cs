using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Tokenizers;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace LlmFp4.Kit.Evaluation;

/// <summary>
/// How close a model stays to its full-precision twin on held-out inputs, per example rather than per task answer, so
/// small differences between quantization methods show where a few hundred task examples cannot separate them:
/// the cosine between the twins' sentence embeddings (encoders), and the KL divergence and top-1 agreement of their
/// next-token distributions (decoders). Each is a mean over examples with lm-eval's standard error.
/// </summary>
public static class Fidelity
{
    /// <summary>The task name fidelity results are filed under.</summary>
    public const string TaskName = "fidelity";

    /// <summary>
    /// <c>mean_cosine</c>: the mean over texts of cos(reference_i, other_i), in double. Zero vectors count as cosine 0.
    /// </summary>
    /// <exception cref="ArgumentException">Different counts or dimensions, or no embeddings.</exception>
    public static MetricValue MeanCosine(IReadOnlyList<float[]> reference, IReadOnlyList<float[]> other)
    {
        if (reference.Count != other.Count)
            throw new ArgumentException($"MeanCosine: {reference.Count} reference embeddings but {other.Count} others.");
        var cosines = new double[reference.Count];
        for (int i = 0; i < cosines.Length; i++)
        {
            float[] a = reference[i], b = other[i];
            if (a.Length != b.Length) throw new ArgumentException($"MeanCosine: embedding {i} has {a.Length} and {b.Length} dimensions.");
            double dot = 0, aa = 0, bb = 0;
            for (int j = 0; j < a.Length; j++)
            {
                dot += (double)a[j] * b[j];
                aa += (double)a[j] * a[j];
                bb += (double)b[j] * b[j];
            }
            cosines[i] = aa > 0 && bb > 0 ? dot / Math.Sqrt(aa * bb) : 0;
        }
        return Metrics.Mean("mean_cosine", cosines);
    }

    /// <summary>
    /// For every position of every sequence, compares the next-token distributions of the two models' logits
    /// (<c>[tokens × vocab]</c> per sequence): <c>kl_divergence</c>, the mean of KL(p_reference ‖ p_other) in nats
    /// (softmax and sums in double), and <c>top1_agreement</c>, the fraction of positions where both argmaxes agree
    /// (lowest id on ties). Every position counts, the last one's prediction included.
    /// </summary>
    /// <exception cref="ArgumentException">The logits do not pair up, or there are no positions.</exception>
    public static IReadOnlyList<MetricValue> NextToken(IReadOnlyList<float[]> referenceLogits, IReadOnlyList<float[]> otherLogits, int vocab)
    {
        var (divergences, agreements) = (new List<double>(), new List<double>());
        Compare(referenceLogits, otherLogits, vocab, divergences, agreements);
        return Summarise(divergences, agreements);
    }

    /// <summary>
    /// <see cref="NextToken(IReadOnlyList{float[]}, IReadOnlyList{float[]}, int)"/> for two LLaMA models of the same
    /// vocabulary on <paramref name="sequences"/> (e.g. windows of held-out text), run in groups of
    /// <paramref name="batchSequences"/> so that only one group's logits are held at a time.
    /// </summary>
    /// <exception cref="ArgumentException">The vocabularies differ, or there are no positions.</exception>
    public static IReadOnlyList<MetricValue> NextToken(LlamaModel reference, LlamaModel other, IReadOnlyList<int[]> sequences, int batchSequences = 8,
        IProgress<EvalProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        if (reference.VocabSize != other.VocabSize)
            throw new ArgumentException($"NextToken: the models' vocabularies differ ({reference.VocabSize} and {other.VocabSize}).");
        if (batchSequences <= 0) throw new ArgumentOutOfRangeException(nameof(batchSequences), "batchSequences must be positive.");
        var (divergences, agreements) = (new List<double>(), new List<double>());
        for (int start = 0; start < sequences.Count; start += batchSequences)
        {
            var group = sequences.Skip(start).Take(batchSequences).ToList();
            Compare(reference.Logits(group), other.Logits(group), reference.VocabSize, divergences, agreements);
            progress?.Report(new EvalProgress(start + group.Count, sequences.Count));
        }
        return Summarise(divergences, agreements);
    }

    /// <summary>
    /// The held-out sequences a decoder's fidelity is measured on: the first <paramref name="tokens"/> of
    /// <paramref name="ids"/> cut into consecutive windows of <paramref name="window"/> tokens (the last one may be shorter).
    /// </summary>
    /// <exception cref="ArgumentException">Fewer than two ids, or a non-positive count or window.</exception>
    public static IReadOnlyList<int[]> Windows(IReadOnlyList<int> ids, int tokens, int window)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (tokens < 1 || window < 1) throw new ArgumentException($"Windows: tokens ({tokens}) and window ({window}) must be positive.");
        if (ids.Count < 2) throw new ArgumentException($"Windows: the held-out text has {ids.Count} token(s); at least 2 are needed.");
        int count = Math.Min(tokens, ids.Count);
        var windows = new List<int[]>();
        for (int start = 0; start < count; start += window)
            windows.Add([.. ids.Skip(start).Take(Math.Min(window, count - start))]);
        return windows;
    }

    private static void Compare(IReadOnlyList<float[]> referenceLogits, IReadOnlyList<float[]> otherLogits, int vocab,
        List<double> divergences, List<double> agreements)
    {
        if (referenceLogits.Count != otherLogits.Count)
            throw new ArgumentException($"NextToken: logits of {referenceLogits.Count} reference sequences but {otherLogits.Count} others.");
        if (vocab <= 0) throw new ArgumentException($"NextToken: vocabulary size {vocab} is not positive.");
        var logP = new double[vocab];
        var logQ = new double[vocab];
        for (int s = 0; s < referenceLogits.Count; s++)
        {
            float[] reference = referenceLogits[s], other = otherLogits[s];
            if (reference.Length != other.Length || reference.Length % vocab != 0)
                throw new ArgumentException($"NextToken: sequence {s} has {reference.Length} and {other.Length} logits, not the same multiple of {vocab}.");
            for (int start = 0; start < reference.Length; start += vocab)
            {
                ReadOnlySpan<float> r = reference.AsSpan(start, vocab), o = other.AsSpan(start, vocab);
                LogSoftmax(r, logP);
                LogSoftmax(o, logQ);
                double divergence = 0;
                for (int v = 0; v < vocab; v++)
                    if (!double.IsNegativeInfinity(logP[v])) divergence += Math.Exp(logP[v]) * (logP[v] - logQ[v]);
                divergences.Add(divergence);
                agreements.Add(TensorPrimitives.IndexOfMax(r) == TensorPrimitives.IndexOfMax(o) ? 1 : 0);
            }
        }
    }

    private static IReadOnlyList<MetricValue> Summarise(List<double> divergences, List<double> agreements) =>
        divergences.Count == 0 ? throw new ArgumentException("NextToken: no positions to compare.")
        : [Metrics.Mean("kl_divergence", divergences), Metrics.Mean("top1_agreement", agreements)];

    private static void LogSoftmax(ReadOnlySpan<float> logits, double[] destination)
    {
        double max = double.NegativeInfinity;
        foreach (float value in logits) max = Math.Max(max, value);
        double sum = 0;
        for (int i = 0; i < logits.Length; i++) sum += Math.Exp(logits[i] - max);
        double logSum = max + Math.Log(sum);
        for (int i = 0; i < logits.Length; i++) destination[i] = logits[i] - logSum;
    }
}

/// <summary>
/// Fidelity of a quantized decoder as an evaluation task: <see cref="Fidelity.NextToken(LlamaModel, LlamaModel, IReadOnlyList{int[]}, int, IProgress{EvalProgress})"/>
/// of the scored model against <paramref name="reference"/> (its full-precision twin, left untouched) on held-out
/// <paramref name="windows"/>; reports <c>kl_divergence</c> (nats per position) and <c>top1_agreement</c> under the task
/// name <see cref="Fidelity.TaskName"/>.
/// </summary>
public sealed class NextTokenFidelityTask(LlamaModel reference, IReadOnlyList<int[]> windows) : IEvalTask
{
    /// <summary>How many held-out tokens <c>reproduce</c> and <c>eval --quant</c> compare by default: 16 windows of 512.</summary>
    public const int DefaultTokens = 8_192;

    /// <inheritdoc/>
    public string Name => Fidelity.TaskName;
    /// <inheritdoc/>
    public string DisplayName => "fidelity to full precision";
    /// <summary>Positions compared: the held-out tokens in all windows.</summary>
    public int Count { get; } = windows.Sum(w => w.Length);
    /// <inheritdoc/>
    public IReadOnlyList<SkippedRecord> Skipped => [];

    /// <summary>
    /// The first <paramref name="tokens"/> tokens of the text file <paramref name="path"/> (encoded without special
    /// tokens) in windows of the reference model's context length, at most 512.
    /// </summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    public static NextTokenFidelityTask FromText(LlamaModel reference, ITokenizer tokenizer, string path, int tokens = DefaultTokens)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: held-out text for fidelity not found.", path);
        return new(reference, Fidelity.Windows(tokenizer.Encode(File.ReadAllText(path), addSpecialTokens: false), tokens, Math.Min(512, reference.ContextLength)));
    }

    /// <summary>Compares the scored model with the reference on every window (<paramref name="limit"/> is ignored so the number stays comparable).</summary>
    /// <exception cref="NotSupportedException">The scored model is not a <see cref="LlamaModel"/>.</exception>
    public IReadOnlyList<MetricValue> Evaluate(LoglikelihoodScorer scorer, int? limit = null, IProgress<EvalProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(scorer);
        return scorer.Model is LlamaModel other
            ? Fidelity.NextToken(reference, other, windows, progress: progress)
            : throw new NotSupportedException($"fidelity: needs a LLaMA model from the kit's runtime, not {scorer.Model.GetType().Name}.");
    }
}
