namespace LlmFp4.Kit.Models.Tokenizers;

/// <summary>Text ↔ token ids. Implementations read Hugging Face <c>tokenizer.json</c> files.</summary>
public interface ITokenizer
{
    int VocabSize { get; }
    int? BosTokenId { get; }
    int? EosTokenId { get; }

    /// <summary>Token ids of <paramref name="text"/>, without special tokens (no BOS).</summary>
    int[] Encode(string text);

    string Decode(ReadOnlySpan<int> ids);
}
