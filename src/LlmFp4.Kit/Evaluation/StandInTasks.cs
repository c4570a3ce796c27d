using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace LlmFp4.Kit.Evaluation;

/// <summary>Settings of the stand-in task generator; with the corpus file they fix the output byte for byte.</summary>
/// <param name="Seed">Seed of the one <see cref="Random"/> that drives every choice.</param>
/// <param name="ContinuationCount">Items of the next-sentence task (fewer if the corpus runs out).</param>
/// <param name="LastWordCount">Items of the last-word task (fewer if the corpus runs out).</param>
/// <param name="ContextSentences">Sentences of context before the sentence to pick.</param>
/// <param name="MinPassageWords">Shortest last-word passage, in words.</param>
/// <param name="MaxPassageWords">Longest last-word passage, in words.</param>
public sealed record StandInTaskOptions(int Seed = 0, int ContinuationCount = 500, int LastWordCount = 500,
    int ContextSentences = 3, int MinPassageWords = 40, int MaxPassageWords = 150);

/// <summary>
/// The kit's own stand-in tasks, built from held-out text because the real benchmarks are not available here.
/// They are not the benchmarks and are never named after them:
/// <list type="bullet">
/// <item><c>continuation</c>: a passage of a few sentences and four candidate next sentences, the true one and
/// three drawn from other documents with roughly the same length (within 25%, else 50%). Scored like any
/// multiple-choice task (acc, acc_norm).</item>
/// <item><c>lastword</c>: a passage whose final word, which also occurs earlier in the passage, must be predicted.
/// Scored with LAMBADA's semantics (greedy exact match and perplexity of the word).</item>
/// </list>
/// Documents in the corpus text are separated by blank lines (a file without blank lines is one document per line).
/// </summary>
public static partial class StandInTasks
{
    /// <summary>Registry name of the next-sentence multiple-choice stand-in.</summary>
    public const string Continuation = "continuation";
    /// <summary>Registry name of the last-word prediction stand-in.</summary>
    public const string LastWord = "lastword";

    /// <summary>The names of the stand-in tasks.</summary>
    public static IReadOnlyList<string> Names { get; } = [Continuation, LastWord];

    /// <summary>Whether <paramref name="taskName"/> is one of the stand-in tasks generated from the corpus.</summary>
    public static bool IsStandIn(string taskName) => Names.Contains(taskName);

    /// <summary>How a task is shown to people: stand-ins carry the label "(stand-in)".</summary>
    public static string DisplayName(string taskName) => IsStandIn(taskName) ? $"{taskName} (stand-in)" : taskName;

    /// <summary>Builds both stand-in tasks from <paramref name="corpusText"/>; deterministic in (text, options).</summary>
    public static (IReadOnlyList<MultipleChoiceExample> Continuation, IReadOnlyList<LastWordExample> LastWord) Generate(
        string corpusText, StandInTaskOptions? options = null)
    {
        options ??= new StandInTaskOptions();
        var documents = SplitDocuments(corpusText).Select(SplitSentences).Where(s => s.Count > 0).ToList();
        if (documents.Count < 2)
            throw new ArgumentException($"The corpus needs at least 2 documents to draw distractors from; found {documents.Count}.", nameof(corpusText));
        var random = new Random(options.Seed);
        return (GenerateContinuation(documents, options, random), GenerateLastWord(documents, options, random));
    }

    /// <summary>
    /// Generates from the corpus file and writes <c>continuation.jsonl</c>, <c>lastword.jsonl</c> and a
    /// <c>README.md</c> with their provenance (corpus SHA-256, options, the command that rebuilds them) into
    /// <paramref name="outputDirectory"/>.
    /// </summary>
    public static (int Continuation, int LastWord) GenerateFiles(string corpusPath, string outputDirectory, StandInTaskOptions? options = null)
    {
        if (!File.Exists(corpusPath))
            throw new FileNotFoundException($"Corpus file not found: {corpusPath}", corpusPath);
        options ??= new StandInTaskOptions();
        byte[] corpus = File.ReadAllBytes(corpusPath);
        var (continuation, lastWord) = Generate(System.Text.Encoding.UTF8.GetString(corpus), options);
        Directory.CreateDirectory(outputDirectory);
        AtomicFile.WriteLines(Path.Combine(outputDirectory, Continuation + ".jsonl"), continuation.Select(e => JsonSerializer.Serialize(
            new ContinuationRecord(e.Id, e.Choices[0].Context, [.. e.Choices.Select(c => c.ChoiceText)], e.Gold), FileJson)));
        AtomicFile.WriteLines(Path.Combine(outputDirectory, LastWord + ".jsonl"), lastWord.Select(e => JsonSerializer.Serialize(
            new LastWordRecord(e.Id, e.Context, e.Target), FileJson)));
        AtomicFile.WriteLines(Path.Combine(outputDirectory, "README.md"), Readme(corpusPath, corpus, options, continuation.Count, lastWord.Count));
        return (continuation.Count, lastWord.Count);
    }

    static string[] Readme(string corpusPath, byte[] corpus, StandInTaskOptions options, int continuationCount, int lastWordCount) =>
    [
        "# Stand-in evaluation tasks",
        "",
        "Built by the kit from held-out text because the real zero-shot benchmarks are not available here.",
        "They are stand-ins: not PIQA, HellaSwag, LAMBADA or any other benchmark, and not comparable with their numbers.",
        "",
        $"- `continuation.jsonl` ({continuationCount} items): `{{\"id\", \"context\", \"choices\": [4 sentences], \"label\"}}`. " +
            $"{options.ContextSentences} sentences of a document, then its true next sentence among three sentences of other documents " +
            "of about the same length. Scored as multiple choice (acc, acc_norm), each choice after a space.",
        $"- `lastword.jsonl` ({lastWordCount} items): `{{\"id\", \"context\", \"target\"}}`. A passage of " +
            $"{options.MinPassageWords}-{options.MaxPassageWords} words whose final word also occurs earlier in it; the target is scored " +
            "after a space, as greedy exact match (acc) and perplexity of the word.",
        "",
        "## Provenance",
        "",
        $"- corpus: `{corpusPath.Replace('\\', '/')}`, SHA-256 `{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(corpus))}`",
        $"- options: `{JsonSerializer.Serialize(options)}`",
        $"- kit version: {KitInfo.Version}",
        "",
        "Rebuild (byte-identical for the same corpus and options):",
        "",
        "```",
        $"llmfp4 tasks generate --corpus {corpusPath.Replace('\\', '/')} --out <this folder> --seed {options.Seed} --count {options.ContinuationCount}",
        "```",
    ];

    /// <summary>Reads <c>continuation.jsonl</c>: <c>{"id", "context", "choices": [4 sentences], "label"}</c>.</summary>
    public static TaskFile<MultipleChoiceExample> ReadContinuation(string path) =>
        JsonlRecords.Read(path, r =>
        {
            var choices = JsonRecord.AsArray(r.Get("choices"), "choices", e => JsonRecord.AsString(e, "choices"));
            int label = r.Int("label");
            if (choices.Count < 2 || label < 0 || label >= choices.Count)
                throw JsonRecord.Invalid("label", $"is {label} with {choices.Count} choices");
            return MultipleChoiceExample.Standard(r.String("id"), r.String("context"), choices, label);
        });

    /// <summary>Reads <c>lastword.jsonl</c>: <c>{"id", "context", "target"}</c>; the target is scored after a space.</summary>
    public static TaskFile<LastWordExample> ReadLastWord(string path) =>
        JsonlRecords.Read(path, r => new LastWordExample(r.String("id"), r.String("context"), r.String("target")));

    sealed record ContinuationRecord(string Id, string Context, string[] Choices, int Label);
    sealed record LastWordRecord(string Id, string Context, string Target);

    static readonly JsonSerializerOptions FileJson = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    static List<MultipleChoiceExample> GenerateContinuation(List<List<string>> documents, StandInTaskOptions options, Random random)
    {
        int span = options.ContextSentences + 1;
        var passages = new List<(int Document, int Start)>();
        for (int d = 0; d < documents.Count; d++)
            for (int start = 0; start + span <= documents[d].Count; start += span)
                passages.Add((d, start));
        Shuffle(passages, random);

        var pool = new List<(int Length, int Document, string Text)>();
        for (int d = 0; d < documents.Count; d++)
            foreach (string sentence in documents[d])
                pool.Add((sentence.Length, d, sentence));
        pool.Sort((a, b) => a.Length != b.Length ? a.Length.CompareTo(b.Length)
            : a.Document != b.Document ? a.Document.CompareTo(b.Document) : string.CompareOrdinal(a.Text, b.Text));

        var examples = new List<MultipleChoiceExample>();
        foreach (var (document, start) in passages)
        {
            if (examples.Count == options.ContinuationCount)
                break;
            string answer = documents[document][start + options.ContextSentences];
            var distractors = PickDistractors(pool, answer, document, random);
            if (distractors is null)
                continue;
            int gold = random.Next(distractors.Count + 1);
            distractors.Insert(gold, answer);
            string context = string.Join(" ", documents[document].GetRange(start, options.ContextSentences));
            examples.Add(MultipleChoiceExample.Standard($"{Continuation}-{examples.Count:D4}", context, distractors, gold));
        }
        return examples;
    }

    /// <summary>Three different sentences of other documents within 25% of the answer's length (50% if too few).</summary>
    static List<string>? PickDistractors(List<(int Length, int Document, string Text)> pool, string answer, int document, Random random)
    {
        foreach (double tolerance in new[] { 0.25, 0.5 })
        {
            int low = (int)Math.Floor(answer.Length * (1 - tolerance)), high = (int)Math.Ceiling(answer.Length * (1 + tolerance));
            var candidates = pool.Where(p => p.Length >= low && p.Length <= high && p.Document != document && p.Text != answer)
                .Select(p => p.Text).Distinct().ToList();
            if (candidates.Count < 3)
                continue;
            var picked = new List<string>();
            while (picked.Count < 3)
            {
                string candidate = candidates[random.Next(candidates.Count)];
                if (!picked.Contains(candidate))
                    picked.Add(candidate);
            }
            return picked;
        }
        return null;
    }

    static List<LastWordExample> GenerateLastWord(List<List<string>> documents, StandInTaskOptions options, Random random)
    {
        var candidates = new List<(string Context, string Target)>();
        foreach (var sentences in documents)
        {
            var passage = new List<string>();
            int words = 0;
            foreach (string sentence in sentences)
            {
                passage.Add(sentence);
                words += WordCount(sentence);
                if (words < options.MinPassageWords)
                    continue;
                if (words <= options.MaxPassageWords && LastWordOf(string.Join(" ", passage)) is { } example)
                {
                    candidates.Add(example);
                    (passage, words) = ([], 0);
                }
                else if (words > options.MaxPassageWords)
                    (passage, words) = ([], 0);
            }
        }
        Shuffle(candidates, random);
        return [.. candidates.Take(options.LastWordCount).Select((c, i) => new LastWordExample($"{LastWord}-{i:D4}", c.Context, c.Target))];
    }

    /// <summary>
    /// The passage's final word (trailing punctuation dropped) and the text before it, if that word is a
    /// content word (letters only, 3 or more, not a function word) that already occurs earlier in the passage.
    /// </summary>
    static (string Context, string Target)? LastWordOf(string passage)
    {
        string trimmed = passage.TrimEnd().TrimEnd(TrailingPunctuation);
        int space = trimmed.LastIndexOf(' ');
        if (space <= 0)
            return null;
        string target = trimmed[(space + 1)..];
        string context = trimmed[..space].TrimEnd();
        if (target.Length < 3 || !target.All(char.IsLetter) || FunctionWords.Contains(target.ToLowerInvariant()))
            return null;
        bool seenBefore = Regex.IsMatch(context, $@"\b{Regex.Escape(target)}\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);
        return seenBefore ? (context, target) : null;
    }

    static readonly char[] TrailingPunctuation = ['.', '!', '?', ',', ';', ':', '"', '\'', ')', ']', '\u201D', '\u2019', '-', '\u2014'];

    static readonly HashSet<string> FunctionWords =
    [
        "the", "and", "that", "this", "with", "for", "was", "were", "are", "not", "but", "his", "her", "him", "she",
        "they", "them", "their", "there", "then", "than", "have", "has", "had", "you", "your", "all", "any", "from",
        "which", "who", "whom", "what", "when", "where", "will", "would", "shall", "should", "could", "can", "may",
        "might", "must", "been", "being", "into", "unto", "upon", "its", "our", "out", "one", "also", "thee", "thou",
        "thy", "these", "those", "such", "some", "very", "more", "most", "much", "now", "said", "say", "did", "does",
        "how", "why", "yet", "nor", "let", "own", "too", "off", "ever", "every", "each", "here", "over", "again",
    ];

    static int WordCount(string text) => text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;

    /// <summary>Blank-line separated blocks; one document per line when the text has no blank line.</summary>
    internal static List<string> SplitDocuments(string text)
    {
        text = text.Replace("\r\n", "\n");
        var separator = BlankLines().IsMatch(text) ? BlankLines() : LineBreak();
        return [.. separator.Split(text).Select(d => Whitespace().Replace(d, " ").Trim()).Where(d => d.Length > 0)];
    }

    /// <summary>
    /// Sentences end at . ! or ? (with closing quotes or brackets) followed by space and an upper-case letter or
    /// opening quote, unless the word before the stop is a common abbreviation.
    /// </summary>
    internal static List<string> SplitSentences(string document)
    {
        var sentences = new List<string>();
        int start = 0;
        foreach (Match boundary in SentenceBoundary().Matches(document))
        {
            string before = document[start..boundary.Index];
            int wordStart = before.LastIndexOf(' ') + 1;
            if (Abbreviations.Contains(before[wordStart..].TrimEnd('.')))
                continue;
            sentences.Add(before.Trim());
            start = boundary.Index + boundary.Length;
        }
        sentences.Add(document[start..].Trim());
        return [.. sentences.Where(s => s.Length > 0)];
    }

    static readonly HashSet<string> Abbreviations = ["Mr", "Mrs", "Ms", "Dr", "St", "Jr", "Sr", "Mt", "Gen", "Col", "Capt", "Rev", "Hon", "vs", "etc", "No", "Co"];

    static void Shuffle<T>(List<T> items, Random random)
    {
        for (int i = items.Count - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    [GeneratedRegex(@"\n[ \t]*\n\s*")]
    private static partial Regex BlankLines();

    [GeneratedRegex(@"\n")]
    private static partial Regex LineBreak();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    [GeneratedRegex(@"(?<=[.!?][""'\u201D\u2019)\]]*)\s+(?=[""'\u201C\u2018(]?[A-Z])")]
    private static partial Regex SentenceBoundary();
}
