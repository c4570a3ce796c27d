using System.Text;

namespace LlmFp4.Kit.Models.Tokenizers;

/// <summary>
/// The BPE model of a tokenizer.json: vocabulary, ranked merges, and how a pre-tokenized word becomes ids —
/// one symbol per character (a byte-level word has one character per byte), unknown characters replaced by
/// their UTF-8 bytes as &lt;0xNN&gt; tokens (byte fallback) or by the unknown token, then the lowest-ranked
/// adjacent pair merged until none is left.
/// </summary>
public sealed class BpeModel
{
    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<long, (int Rank, int Merged)> _merges;
    private readonly int?[] _byteFallbackIds;
    private readonly int? _unkId;
    private readonly bool _fuseUnk;
    private readonly bool _ignoreMerges;

    /// <param name="vocab">Token string → id.</param>
    /// <param name="merges">Merge rules in rank order (rank 0 applies first); both parts and their concatenation must be in the vocabulary.</param>
    /// <param name="unkToken">Token for characters the vocabulary lacks (null: such characters are an error).</param>
    /// <param name="byteFallback">Replace unknown characters by their UTF-8 bytes as &lt;0xNN&gt; tokens (SentencePiece style).</param>
    /// <param name="fuseUnk">Merge runs of unknown tokens into one.</param>
    /// <param name="ignoreMerges">Take a word that is itself in the vocabulary as one token without merging.</param>
    /// <param name="source">Name used in error messages (the file).</param>
    public BpeModel(IReadOnlyDictionary<string, int> vocab, IReadOnlyList<(string Left, string Right)> merges,
        string? unkToken = null, bool byteFallback = false, bool fuseUnk = false, bool ignoreMerges = false, string source = "BPE model")
    {
        _vocab = new Dictionary<string, int>(vocab, StringComparer.Ordinal);
        Merges = [.. merges];
        Source = source;
        _merges = new Dictionary<long, (int, int)>(merges.Count);
        for (int rank = 0; rank < merges.Count; rank++)
        {
            var (left, right) = merges[rank];
            int l = Id(left, rank), r = Id(right, rank), m = Id(left + right, rank);
            _merges.TryAdd(Key(l, r), (rank, m));
        }
        if (unkToken is not null)
            _unkId = _vocab.TryGetValue(unkToken, out int unk) ? unk
                : throw new InvalidDataException($"{source}: model.unk_token '{unkToken}' is not in model.vocab.");
        _byteFallbackIds = new int?[256];
        if (byteFallback)
            for (int b = 0; b < 256; b++)
                _byteFallbackIds[b] = _vocab.TryGetValue($"<0x{b:X2}>", out int id) ? id : null;
        _fuseUnk = fuseUnk;
        _ignoreMerges = ignoreMerges;

        int Id(string token, int rank) => _vocab.TryGetValue(token, out int id) ? id
            : throw new InvalidDataException($"{source}: model.merges[{rank}] uses '{token}', which is not in model.vocab.");
    }

    /// <summary>Names the file the model came from in error messages.</summary>
    public string Source { get; }
    /// <summary>Token string → id, as tokenizer.json's <c>model.vocab</c>.</summary>
    public IReadOnlyDictionary<string, int> Vocab => _vocab;

    /// <summary>The merge rules as given, in rank order.</summary>
    public IReadOnlyList<(string Left, string Right)> Merges { get; }
    /// <summary>Number of merge rules.</summary>
    public int MergeCount => _merges.Count;

    /// <summary>Appends the ids of one pre-tokenized word to <paramref name="ids"/>.</summary>
    public void EncodeWord(string word, List<int> ids)
    {
        if (word.Length == 0)
            return;
        if ((_ignoreMerges || word.Length == 1) && _vocab.TryGetValue(word, out int whole))
        {
            ids.Add(whole);
            return;
        }
        var symbols = InitialSymbols(word);
        Merge(symbols);
        ids.AddRange(symbols);
    }

    private List<int> InitialSymbols(string word)
    {
        var symbols = new List<int>(word.Length);
        bool lastWasUnk = false;
        for (int i = 0; i < word.Length; i++)
        {
            int length = char.IsSurrogatePair(word, i) ? 2 : 1;
            var piece = word.Substring(i, length);
            i += length - 1;
            if (_vocab.TryGetValue(piece, out int id))
            {
                symbols.Add(id);
                lastWasUnk = false;
                continue;
            }
            if (TryByteFallback(piece, symbols))
            {
                lastWasUnk = false;
                continue;
            }
            if (_unkId is not int unk)
                throw new ArgumentException($"{Source}: character U+{char.ConvertToUtf32(piece, 0):X4} is not in the vocabulary and the model has no unk_token or byte fallback.");
            if (!(_fuseUnk && lastWasUnk))
                symbols.Add(unk);
            lastWasUnk = true;
        }
        return symbols;
    }

    private bool TryByteFallback(string piece, List<int> symbols)
    {
        Span<byte> utf8 = stackalloc byte[4];
        int n = Encoding.UTF8.GetBytes(piece, utf8);
        for (int k = 0; k < n; k++)
            if (_byteFallbackIds[utf8[k]] is null)
                return false;
        for (int k = 0; k < n; k++)
            symbols.Add(_byteFallbackIds[utf8[k]]!.Value);
        return true;
    }

    /// <summary>
    /// Applies merges in rank order, leftmost first among equal ranks, in O(n log n): the symbols form a linked
    /// list and a heap holds the candidate pairs; a popped pair whose symbols changed since it was pushed is skipped.
    /// </summary>
    private void Merge(List<int> symbols)
    {
        int n = symbols.Count;
        if (n < 2)
            return;
        var next = new int[n];
        var prev = new int[n];
        for (int i = 0; i < n; i++)
        {
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
        }
        var heap = new PriorityQueue<(int Position, int Left, int Right), (int Rank, int Position)>();
        for (int i = 0; i + 1 < n; i++)
            Push(i, i + 1);
        while (heap.TryDequeue(out var candidate, out _))
        {
            int i = candidate.Position, j = next[i];
            // Stale: the left symbol was merged away or changed, or its right neighbour is no longer the same.
            if (symbols[i] != candidate.Left || j < 0 || symbols[j] != candidate.Right)
                continue;
            symbols[i] = _merges[Key(candidate.Left, candidate.Right)].Merged;
            symbols[j] = -1;
            next[i] = next[j];
            if (next[j] >= 0)
                prev[next[j]] = i;
            if (prev[i] >= 0)
                Push(prev[i], i);
            if (next[i] >= 0)
                Push(i, next[i]);
        }
        int write = 0;
        for (int i = 0; i >= 0; i = next[i])
            symbols[write++] = symbols[i];
        symbols.RemoveRange(write, n - write);

        void Push(int left, int right)
        {
            if (_merges.TryGetValue(Key(symbols[left], symbols[right]), out var merge))
                heap.Enqueue((left, symbols[left], symbols[right]), (merge.Rank, left));
        }
    }

    internal static long Key(int left, int right) => ((long)left << 32) | (uint)right;
}
