namespace LlmFp4.Kit.Models;

/// <summary>What the evaluation harness needs from a model: next-token log-probabilities.</summary>
public interface ICausalLanguageModel
{
    /// <summary>Number of token ids, the length of each logit row.</summary>
    int VocabSize { get; }

    /// <summary>Longest sequence one call may score.</summary>
    int ContextLength { get; }

    /// <summary>
    /// For each sequence <c>t</c>, returns <c>log p(t[i+1] | t[0..i])</c> for <c>i = 0 .. t.Length-2</c>
    /// (length <c>t.Length - 1</c>). Sequences may differ in length; the call may batch them.
    /// </summary>
    float[][] TokenLogProbs(IReadOnlyList<int[]> sequences);
}
