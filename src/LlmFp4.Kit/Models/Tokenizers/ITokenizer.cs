namespace LlmFp4.Kit.Models.Tokenizers;

/// <summary>Text ↔ token ids. Implementations read Hugging Face <c>tokenizer.json</c> files.</summary>
public interface ITokenizer
{
    /// <summary>Number of token ids: one past the largest id of the vocabulary and the added tokens.</summary>
    int VocabSize { get; }
    /// <summary>The beginning-of-sequence id, if the tokenizer has one.</summary>
    int? BosTokenId { get; }
    /// <summary>The end-of-sequence id, if the tokenizer has one.</summary>
    int? EosTokenId { get; }

    /// <summary>Token ids of <paramref name="text"/>, without special tokens (no BOS).</summary>
    int[] Encode(string text);

    /// <summary>
    /// Token ids of <paramref name="text"/>; with <paramref name="addSpecialTokens"/>, framed by the special tokens
    /// the tokenizer adds to a sequence (a LLaMA tokenizer's BOS), as Hugging Face's <c>encode(text)</c> does by
    /// default. A tokenizer that adds none returns <see cref="Encode(string)"/>.
    /// </summary>
    int[] Encode(string text, bool addSpecialTokens) => Encode(text);

    /// <summary>The text of <paramref name="ids"/>, through the tokenizer.json decoder (special tokens included as their text).</summary>
    /// <exception cref="ArgumentException">An id outside the vocabulary.</exception>
    string Decode(ReadOnlySpan<int> ids);
}
