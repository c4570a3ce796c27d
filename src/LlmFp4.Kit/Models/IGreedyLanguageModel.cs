namespace LlmFp4.Kit.Models;

/// <summary>
/// Optional capability of a causal language model: besides the log-probability of each next token, the
/// model's own most likely next token at every position. lm-eval needs it for <c>is_greedy</c> (does greedy
/// decoding reproduce a continuation exactly?), which is the accuracy of last-word prediction tasks. It is a
/// separate interface because it costs an argmax over the vocabulary that plain scoring does not need.
/// </summary>
public interface IGreedyLanguageModel : ICausalLanguageModel
{
    /// <summary>
    /// For each sequence <c>t</c>: the same log-probabilities as <see cref="ICausalLanguageModel.TokenLogProbs"/>
    /// and, for <c>i = 0 .. t.Length-2</c>, <c>argmax_v p(v | t[0..i])</c> (the lowest id on ties).
    /// </summary>
    NextTokenScores[] ScoreNextTokens(IReadOnlyList<int[]> sequences);
}

/// <summary>Per position of one sequence: log p(actual next token) and the most likely next token id.</summary>
public sealed record NextTokenScores(float[] LogProbs, int[] ArgMax);
