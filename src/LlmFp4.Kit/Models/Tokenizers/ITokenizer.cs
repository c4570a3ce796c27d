namespace LlmFp4.Kit.Models.Tokenizers;

/// <summary>Text ↔ token ids. Implementations read Hugging Face <c>tokenizer.json</c> files.</summary>
public interface ITokenizer
{
    int VocabSize { get; }
    int? BosTokenId { get; }
    int? EosTokenId { get; }

    /// <summary>Token ids of <paramref name="text"/>, without special tokens (no BOS).</summary>
    int[] Encode(string text);

    /// <summary>
    /// Token ids of <paramref name="text"/>; with <paramref name="addSpecialTokens"/>, framed by the special tokens
    /// the tokenizer adds to a sequence (a LLaMA tokenizer's BOS), as Hugging Face's <c>encode(text)</c> does by
    /// default. A tokenizer that adds none returns <see cref="Encode(string)"/>.
    /// </summary>
    int[] Encode(string text, bool addSpecialTokens) => Encode(text);

    string Decode(ReadOnlySpan<int> ids);
}
