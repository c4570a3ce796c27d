namespace LlmFp4.Kit.Models.Tokenizers;

/// <summary>
/// The WordPiece model of BERT (Schuster and Nakajima 2012; Google BERT's <c>WordpieceTokenizer</c>; Hugging Face
/// tokenizers/src/models/wordpiece): each pre-tokenized word becomes the greedy longest-match-first sequence of
/// vocabulary pieces, every piece after the first written with the continuing-subword prefix (<c>##</c>). A word with
/// more than <see cref="MaxInputCharsPerWord"/> code points, or one that cannot be covered, becomes the unknown token.
/// </summary>
public sealed class WordPieceModel
{
    private readonly Dictionary<string, int> _vocab;

    /// <summary>A WordPiece model over <paramref name="vocab"/> (copied); <paramref name="source"/> names it in error messages.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="vocab"/> is null.</exception>
    /// <exception cref="InvalidDataException"><paramref name="unkToken"/> is not in the vocabulary, or <paramref name="maxInputCharsPerWord"/> is not positive.</exception>
    public WordPieceModel(IReadOnlyDictionary<string, int> vocab, string unkToken = "[UNK]", string continuingSubwordPrefix = "##",
        int maxInputCharsPerWord = 100, string source = "WordPiece model")
    {
        ArgumentNullException.ThrowIfNull(vocab);
        _vocab = new Dictionary<string, int>(vocab, StringComparer.Ordinal);
        if (!_vocab.TryGetValue(unkToken, out int unk))
            throw new InvalidDataException($"{source}: the unknown token '{unkToken}' is not in the vocabulary.");
        if (maxInputCharsPerWord <= 0)
            throw new InvalidDataException($"{source}: max_input_chars_per_word must be positive, got {maxInputCharsPerWord}.");
        UnkToken = unkToken;
        UnkTokenId = unk;
        ContinuingSubwordPrefix = continuingSubwordPrefix;
        MaxInputCharsPerWord = maxInputCharsPerWord;
        Source = source;
    }

    /// <summary>Token string → id, as tokenizer.json's <c>model.vocab</c>.</summary>
    public IReadOnlyDictionary<string, int> Vocab => _vocab;
    /// <summary>The unknown token, "[UNK]" in BERT.</summary>
    public string UnkToken { get; }
    /// <summary>Id of <see cref="UnkToken"/>.</summary>
    public int UnkTokenId { get; }
    /// <summary>Prefix of every piece after a word's first, "##" in BERT.</summary>
    public string ContinuingSubwordPrefix { get; }
    /// <summary>Longer words (in code points) become <see cref="UnkToken"/> whole; 100 in BERT.</summary>
    public int MaxInputCharsPerWord { get; }
    /// <summary>Names the file the model came from in error messages.</summary>
    public string Source { get; }

    /// <summary>Appends the ids of <paramref name="word"/> (one pre-tokenized, normalised word) to <paramref name="ids"/>.</summary>
    public void EncodeWord(string word, List<int> ids)
    {
        if (word.Length == 0) return;
        // Code-point boundaries, so a piece never splits a surrogate pair.
        var boundaries = new List<int>(word.Length + 1);
        for (int i = 0; i < word.Length; i += char.IsSurrogatePair(word, i) ? 2 : 1) boundaries.Add(i);
        boundaries.Add(word.Length);
        int chars = boundaries.Count - 1;
        if (chars > MaxInputCharsPerWord)
        {
            ids.Add(UnkTokenId);
            return;
        }

        int before = ids.Count;
        for (int start = 0; start < chars;)
        {
            int end = chars, id = -1;
            for (; end > start; end--)
            {
                string piece = word[boundaries[start]..boundaries[end]];
                if (_vocab.TryGetValue(start > 0 ? ContinuingSubwordPrefix + piece : piece, out id)) break;
            }
            if (end == start)
            {
                ids.RemoveRange(before, ids.Count - before);
                ids.Add(UnkTokenId);
                return;
            }
            ids.Add(id);
            start = end;
        }
    }

    /// <summary>
    /// The tokens of a BERT <c>vocab.txt</c> in id order: one per line, trailing white space trimmed as the reference
    /// reader does. <paramref name="source"/> names the file in errors (an empty vocabulary, a token listed twice).
    /// </summary>
    public static IReadOnlyList<string> ReadVocabTxt(string text, string source)
    {
        var tokens = text.Split('\n').Select(line => line.TrimEnd()).ToList();
        if (tokens.Count > 0 && tokens[^1].Length == 0) tokens.RemoveAt(tokens.Count - 1);
        var duplicate = tokens.GroupBy(t => t, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new InvalidDataException($"{source}: the token '{duplicate.Key}' appears twice.");
        if (tokens.Count == 0) throw new InvalidDataException($"{source}: empty vocabulary.");
        return tokens;
    }
}
