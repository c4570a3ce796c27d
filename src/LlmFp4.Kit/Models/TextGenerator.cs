using LlmFp4.Kit.Models.Tokenizers;

namespace LlmFp4.Kit.Models;

/// <summary>
/// Continues prompts with a <see cref="LlamaModel"/> and a KV cache: the prompt is prefilled in one pass, then
/// each new token costs one single-token <see cref="LlamaModel.Decode"/>. Tokens are chosen by
/// <see cref="TokenSampler"/>. The model's quantizers apply as they are set. Not thread-safe (the model is not).
/// </summary>
public sealed class TextGenerator(LlamaModel model, ITokenizer tokenizer)
{
    private readonly LlamaModel _model = model ?? throw new ArgumentNullException(nameof(model));
    private readonly ITokenizer _tokenizer = tokenizer ?? throw new ArgumentNullException(nameof(tokenizer));
    private KvCache? _cache;

    /// <summary>
    /// Token ids following <paramref name="prompt"/>, lazily, one per model step. A prompt longer than the
    /// context keeps its last tokens; when the cache fills up, the last half of the context is prefilled again
    /// (a sliding window), so generation can run past the context length.
    /// </summary>
    public IEnumerable<int> GenerateIds(IReadOnlyList<int> prompt, GenerationSettings settings)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        if (prompt.Count == 0) throw new ArgumentException("generation: the prompt has no tokens.");
        return Run(prompt, settings);
    }

    private IEnumerable<int> Run(IReadOnlyList<int> prompt, GenerationSettings settings)
    {
        var cache = _cache ??= _model.CreateCache();
        cache.Clear();
        var random = new Random(settings.Seed);
        var logits = new float[_model.VocabSize];
        var tokens = new List<int>(prompt);
        int context = _model.ContextLength;
        _model.Decode(Window(tokens, context), cache, logits);
        for (int n = 0; n < settings.MaxNewTokens; n++)
        {
            int next = TokenSampler.Sample(logits, settings, random);
            if (settings.StopAtEos && (next == _tokenizer.EosTokenId || _model.Config.EosTokenId?.Contains(next) == true)) yield break;
            yield return next;
            tokens.Add(next);
            if (n + 1 == settings.MaxNewTokens) yield break;
            if (cache.Length == cache.Capacity)
            {
                cache.Clear();
                _model.Decode(Window(tokens, Math.Max(1, context / 2)), cache, logits);
            }
            else
                _model.Decode([next], cache, logits);
        }
    }

    /// <summary>
    /// The continuation of <paramref name="prompt"/> (encoded with the tokenizer's special tokens, as Hugging Face's
    /// text generation does: a LLaMA prompt starts with BOS) as it grows, one text piece per generated token (possibly
    /// empty). Text is decoded from all generated ids at once and released only when it does not end in a
    /// partial character (byte-level tokens may split UTF-8; what is held back comes in a last piece), so the
    /// pieces concatenate to <see cref="Continue"/>'s result.
    /// </summary>
    public IEnumerable<string> Stream(string prompt, GenerationSettings settings)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        return StreamText(GenerateIds(_tokenizer.Encode(prompt, addSpecialTokens: true), settings));
    }

    private IEnumerable<string> StreamText(IEnumerable<int> ids)
    {
        var generated = new List<int>();
        int released = 0;
        string text = "";
        foreach (int id in ids)
        {
            generated.Add(id);
            text = _tokenizer.Decode(generated.ToArray());
            if (text.EndsWith('\uFFFD') || text.Length < released)
            {
                yield return "";
                continue;
            }
            yield return text[released..];
            released = text.Length;
        }
        if (released < text.Length) yield return text[released..];
    }

    /// <summary>The decoded continuation of <paramref name="prompt"/> (without the prompt).</summary>
    public string Continue(string prompt, GenerationSettings settings) => string.Concat(Stream(prompt, settings));

    private static int[] Window(List<int> tokens, int length) => tokens.Skip(Math.Max(0, tokens.Count - length)).ToArray();
}
