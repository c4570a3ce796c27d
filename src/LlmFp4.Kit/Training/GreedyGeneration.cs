using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Tokenizers;

namespace LlmFp4.Kit.Training;

/// <summary>
/// Greedy (arg-max) continuation of a prompt. Each new token reruns the whole prefix (no key/value cache), which is
/// fine for the short samples of a model card.
/// </summary>
public static class GreedyGeneration
{
    /// <summary>
    /// Appends up to <paramref name="maxNewTokens"/> arg-max tokens to the prompt's tokens (the prefix is truncated
    /// from the left to the model's context), stopping early at the tokenizer's end-of-sequence token, and returns
    /// the decoded continuation only. Ties go to the lowest token id.
    /// </summary>
    public static string Continue(LlamaModel model, ITokenizer tokenizer, string prompt, int maxNewTokens)
    {
        var tokens = new List<int>(tokenizer.Encode(prompt));
        if (tokens.Count == 0) throw new ArgumentException("generation: the prompt encodes to no tokens.");
        int promptLength = tokens.Count;
        for (int n = 0; n < maxNewTokens; n++)
        {
            int[] context = tokens.Skip(Math.Max(0, tokens.Count - model.ContextLength)).ToArray();
            float[] logits = model.Logits([context])[0];
            ReadOnlySpan<float> last = logits.AsSpan((context.Length - 1) * model.VocabSize, model.VocabSize);
            int next = 0;
            for (int i = 1; i < last.Length; i++)
                if (last[i] > last[next]) next = i;
            if (next == tokenizer.EosTokenId) break;
            tokens.Add(next);
        }
        return tokenizer.Decode(tokens.ToArray().AsSpan(promptLength));
    }
}
