using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace LlmFp4.Kit.Models.Tokenizers;

/// <summary>Settings of <see cref="BpeTrainer"/>; serialisable so a tokenizer can be traced to how it was made.</summary>
/// <param name="VocabSize">Final vocabulary size: special tokens + 256 bytes + merges.</param>
/// <param name="SpecialTokens">Special tokens, given the first ids in order (the first one serves as BOS and EOS).</param>
/// <param name="MinPairCount">Training stops early when the most frequent pair occurs fewer times than this.</param>
public sealed record BpeTrainerSettings(int VocabSize = 4096, IReadOnlyList<string>? SpecialTokens = null, int MinPairCount = 2)
{
    public IReadOnlyList<string> SpecialTokensOrDefault => SpecialTokens ?? ["<|endoftext|>"];
}

/// <summary>Progress of training: merges done out of merges wanted.</summary>
public readonly record struct BpeTrainingProgress(int Merges, int TargetMerges);

/// <summary>
/// Byte-level BPE training in the GPT-2 scheme: text split by the GPT-2 pre-tokenization pattern, every word
/// spelled in the 256-character byte alphabet, then the most frequent adjacent pair merged until the vocabulary
/// is full. Ids: special tokens first, then byte b at id (specials + b), then merges in order. Ties between
/// equally frequent pairs go to the pair with the smaller (left id, right id), so training is deterministic.
/// </summary>
public static class BpeTrainer
{
    /// <summary>Trains on <paramref name="texts"/> and returns the tokenizer.json text (loadable by <see cref="BpeTokenizer"/>).</summary>
    public static string Train(IEnumerable<string> texts, BpeTrainerSettings settings, IProgress<BpeTrainingProgress>? progress = null)
    {
        var specials = settings.SpecialTokensOrDefault;
        int firstByteId = specials.Count;
        int targetMerges = settings.VocabSize - firstByteId - 256;
        if (targetMerges < 0)
            throw new ArgumentException($"Vocabulary size {settings.VocabSize} is smaller than the {firstByteId} special tokens plus 256 bytes.", nameof(settings));

        // Count each distinct pre-tokenized word once; training then works on (spelling, count) pairs.
        var wordCounts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var text in texts)
            foreach (var m in TokenizerPipeline.Gpt2Regex.EnumerateMatches(text))
            {
                var word = text.Substring(m.Index, m.Length);
                wordCounts[word] = wordCounts.GetValueOrDefault(word) + 1;
            }
        var ordered = wordCounts.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToArray();
        var words = new int[ordered.Length][];
        var counts = new long[ordered.Length];
        for (int w = 0; w < ordered.Length; w++)
        {
            words[w] = Encoding.UTF8.GetBytes(ordered[w].Key).Select(b => firstByteId + b).ToArray();
            counts[w] = ordered[w].Value;
        }

        var tokens = new List<string>(settings.VocabSize);
        tokens.AddRange(specials);
        for (int b = 0; b < 256; b++)
            tokens.Add(ByteLevelAlphabet.Char((byte)b).ToString());
        var merges = new List<(int Left, int Right)>(targetMerges);

        var pairCounts = new Dictionary<long, long>();
        var pairWords = new Dictionary<long, List<int>>();
        var changed = new HashSet<long>();
        for (int w = 0; w < words.Length; w++)
            AddPairs(w, +1);
        var queue = new PriorityQueue<long, (long Count, long Pair)>(Comparer<(long Count, long Pair)>.Create(
            (a, b) => a.Count != b.Count ? b.Count.CompareTo(a.Count) : a.Pair.CompareTo(b.Pair)));
        foreach (var (pair, count) in pairCounts)
            queue.Enqueue(pair, (count, pair));

        while (merges.Count < targetMerges && queue.TryDequeue(out long best, out var priority))
        {
            long current = pairCounts.GetValueOrDefault(best);
            if (current != priority.Count)
            {
                // Stale entry: the count went down since it was queued; queue it again with the true count.
                if (current > 0)
                    queue.Enqueue(best, (current, best));
                continue;
            }
            if (current < settings.MinPairCount)
                break;
            int left = (int)(best >> 32), right = (int)(uint)best, merged = tokens.Count;
            tokens.Add(tokens[left] + tokens[right]);
            merges.Add((left, right));

            changed.Clear();
            var affected = pairWords[best];
            pairWords.Remove(best);
            foreach (int w in affected.Distinct())
            {
                if (!Contains(words[w], left, right))
                    continue; // listed when the pair occurred there; an earlier merge removed it
                AddPairs(w, -1);
                words[w] = MergeWord(words[w], left, right, merged);
                AddPairs(w, +1);
            }
            foreach (long pair in changed)
                if (pairCounts.GetValueOrDefault(pair) is > 0 and var c)
                    queue.Enqueue(pair, (c, pair));
            if (merges.Count % 64 == 0 || merges.Count == targetMerges)
                progress?.Report(new BpeTrainingProgress(merges.Count, targetMerges));
        }
        return ToJson(tokens, specials.Count, merges);

        void AddPairs(int w, int sign)
        {
            var symbols = words[w];
            for (int i = 0; i + 1 < symbols.Length; i++)
            {
                long pair = ((long)symbols[i] << 32) | (uint)symbols[i + 1];
                long updated = pairCounts.GetValueOrDefault(pair) + sign * counts[w];
                if (updated == 0)
                    pairCounts.Remove(pair);
                else
                    pairCounts[pair] = updated;
                if (sign > 0)
                {
                    if (!pairWords.TryGetValue(pair, out var list))
                        pairWords[pair] = list = [];
                    if (list.Count == 0 || list[^1] != w)
                        list.Add(w);
                    changed.Add(pair);
                }
            }
        }
    }

    private static bool Contains(int[] symbols, int left, int right)
    {
        for (int i = 0; i + 1 < symbols.Length; i++)
            if (symbols[i] == left && symbols[i + 1] == right)
                return true;
        return false;
    }

    /// <summary>Replaces non-overlapping occurrences of (left, right), scanning left to right.</summary>
    private static int[] MergeWord(int[] symbols, int left, int right, int merged)
    {
        var result = new List<int>(symbols.Length);
        for (int i = 0; i < symbols.Length; i++)
        {
            if (i + 1 < symbols.Length && symbols[i] == left && symbols[i + 1] == right)
            {
                result.Add(merged);
                i++;
            }
            else
                result.Add(symbols[i]);
        }
        return result.ToArray();
    }

    /// <summary>
    /// A tokenizer.json in the layout the Hugging Face tokenizers library writes for GPT-2 style byte-level BPE:
    /// ByteLevel pre-tokenizer (no prefix space), ByteLevel decoder, special tokens as added tokens.
    /// </summary>
    private static string ToJson(List<string> tokens, int specialCount, List<(int Left, int Right)> merges)
    {
        var vocab = new JsonObject();
        for (int id = 0; id < tokens.Count; id++)
            vocab[tokens[id]] = id;
        var byteLevel = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true };
        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = new JsonArray(Enumerable.Range(0, specialCount).Select(id => (JsonNode)new JsonObject
            {
                ["id"] = id, ["content"] = tokens[id], ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
                ["normalized"] = false, ["special"] = true,
            }).ToArray()),
            ["normalizer"] = null,
            ["pre_tokenizer"] = byteLevel.DeepClone(),
            ["post_processor"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = false, ["use_regex"] = true },
            ["decoder"] = byteLevel.DeepClone(),
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = null,
                ["end_of_word_suffix"] = null, ["fuse_unk"] = false, ["byte_fallback"] = false, ["ignore_merges"] = false,
                ["vocab"] = vocab,
                // The "left right" string form: byte-level tokens never contain a space, and every tokenizers version reads it.
                ["merges"] = new JsonArray(merges.Select(m => (JsonNode)JsonValue.Create(tokens[m.Left] + " " + tokens[m.Right])).ToArray()),
            },
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }
}
