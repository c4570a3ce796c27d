using System.Text.RegularExpressions;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Tokenizers;

namespace LlmFp4.Kit.Tests.Evaluation;

/// <summary>
/// One token per character (code points below 128); BOS = 128, EOS = 129. With special tokens a sequence starts with
/// BOS, as a LLaMA tokenizer's post-processor does.
/// </summary>
sealed class CharTokenizer(bool withBos = true) : ITokenizer
{
    public int VocabSize => 130;
    public int? BosTokenId => withBos ? 128 : null;
    public int? EosTokenId => 129;
    public int[] Encode(string text) => [.. text.Select(c => c < 128 ? (int)c : '?')];
    public int[] Encode(string text, bool addSpecialTokens) => addSpecialTokens && withBos ? [128, .. Encode(text)] : Encode(text);
    public string Decode(ReadOnlySpan<int> ids) => new([.. ids.ToArray().Select(i => (char)i)]);
}

/// <summary>
/// GPT-2-like pieces: a word with its leading space is one token (" yes"), runs of whitespace are tokens of
/// their own. Ids are assigned on first sight, so they are stable within a test. BOS = 0.
/// </summary>
sealed partial class WordTokenizer : ITokenizer
{
    readonly Dictionary<string, int> _ids = new() { ["<s>"] = 0 };
    readonly List<string> _pieces = ["<s>"];

    public int VocabSize => 1000;
    public int? BosTokenId => 0;
    public int? EosTokenId => null;

    public int[] Encode(string text) => [.. Piece().Matches(text).Select(m => Id(m.Value))];
    public string Decode(ReadOnlySpan<int> ids) => string.Concat(ids.ToArray().Select(i => _pieces[i]));

    int Id(string piece)
    {
        if (!_ids.TryGetValue(piece, out int id))
        {
            _ids[piece] = id = _pieces.Count;
            _pieces.Add(piece);
        }
        return id;
    }

    [GeneratedRegex(@" ?[^\s]+|\s+")]
    private static partial Regex Piece();
}

/// <summary>
/// A deterministic bigram model: logits[prev, next] = ((prev * 31 + next * 17) % 13) / 3, softmax over the
/// vocabulary. <see cref="LogProb"/> gives the same numbers for tests to sum by hand. Records every call.
/// </summary>
sealed class BigramModel(int vocabSize, int contextLength) : IGreedyLanguageModel
{
    public int VocabSize => vocabSize;
    public int ContextLength => contextLength;
    public List<int[][]> Calls { get; } = [];

    static double Logit(int prev, int next) => ((prev * 31 + next * 17) % 13) / 3.0;

    public double LogProb(int prev, int next)
    {
        double max = Enumerable.Range(0, vocabSize).Max(v => Logit(prev, v));
        double logSum = Math.Log(Enumerable.Range(0, vocabSize).Sum(v => Math.Exp(Logit(prev, v) - max))) + max;
        return Logit(prev, next) - logSum;
    }

    public int ArgMax(int prev)
    {
        int best = 0;
        for (int v = 1; v < vocabSize; v++)
            if (Logit(prev, v) > Logit(prev, best))
                best = v;
        return best;
    }

    public float[][] TokenLogProbs(IReadOnlyList<int[]> sequences) => [.. ScoreNextTokens(sequences).Select(s => s.LogProbs)];

    public NextTokenScores[] ScoreNextTokens(IReadOnlyList<int[]> sequences)
    {
        Calls.Add([.. sequences]);
        return [.. sequences.Select(s =>
        {
            if (s.Length > contextLength)
                throw new ArgumentException($"sequence of {s.Length} exceeds context {contextLength}");
            return new NextTokenScores(
                [.. Enumerable.Range(0, s.Length - 1).Select(i => (float)LogProb(s[i], s[i + 1]))],
                [.. Enumerable.Range(0, s.Length - 1).Select(i => ArgMax(s[i]))]);
        })];
    }
}

/// <summary>Every token costs exactly one nat: a choice's log-likelihood is minus its token count.</summary>
sealed class ConstantModel(int contextLength = 256) : ICausalLanguageModel
{
    public int VocabSize => 130;
    public int ContextLength => contextLength;
    public float[][] TokenLogProbs(IReadOnlyList<int[]> sequences) => [.. sequences.Select(s => Enumerable.Repeat(-1f, s.Length - 1).ToArray())];
}

/// <summary>A fresh temporary folder, deleted with the test.</summary>
sealed class TempDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("llmfp4-eval-").FullName;
    public string File(string name, string content)
    {
        string path = System.IO.Path.Combine(Path, name);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        System.IO.File.WriteAllText(path, content);
        return path;
    }
    public void Dispose() => Directory.Delete(Path, recursive: true);
}
