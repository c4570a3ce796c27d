using System.Text;

namespace LlmFp4.Kit.Data;

/// <summary>
/// One document of the corpus (a Bible book, a novel chapter, an address): normalised paragraphs, none empty,
/// none containing a line break.
/// </summary>
/// <param name="Source">Source name, e.g. "kjv", "austen", "moby-dick", "sotu"; the split is stratified by it.</param>
/// <param name="Id">Identifier unique in the corpus, e.g. "austen/emma/03".</param>
/// <param name="Paragraphs">Normalised paragraphs (<see cref="CorpusText.NormaliseParagraph"/>).</param>
public sealed record CorpusDocument(string Source, string Id, IReadOnlyList<string> Paragraphs)
{
    /// <summary>The paragraphs separated by one blank line.</summary>
    public string Text => string.Join("\n\n", Paragraphs);
}

/// <summary>
/// Text normalisation and the split-file format: paragraphs separated by one blank line, documents by two
/// blank lines, UTF-8 without BOM, LF line ends, a final newline.
/// </summary>
public static class CorpusText
{
    public const string ParagraphSeparator = "\n\n";
    public const string DocumentSeparator = "\n\n\n";

    /// <summary>
    /// Collapses every run of white space (including line breaks and no-break spaces) into one space and trims
    /// the ends; punctuation and case are kept. Returns "" for a paragraph of only white space.
    /// </summary>
    public static string NormaliseParagraph(string text)
    {
        var sb = new StringBuilder(text.Length);
        bool pendingSpace = false;
        foreach (char c in text)
        {
            if (char.IsWhiteSpace(c) || char.IsControl(c))
            {
                pendingSpace = sb.Length > 0;
                continue;
            }
            if (pendingSpace)
                sb.Append(' ');
            pendingSpace = false;
            sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>Groups lines into normalised paragraphs; blank lines separate paragraphs.</summary>
    public static List<string> ParagraphsFromLines(IEnumerable<string> lines)
    {
        var paragraphs = new List<string>();
        var current = new StringBuilder();
        foreach (var line in lines)
        {
            if (string.IsNullOrWhiteSpace(line))
            {
                Flush();
                continue;
            }
            current.Append(line).Append(' ');
        }
        Flush();
        return paragraphs;

        void Flush()
        {
            var p = NormaliseParagraph(current.ToString());
            if (p.Length > 0)
                paragraphs.Add(p);
            current.Clear();
        }
    }

    /// <summary>Paragraphs of a text whose paragraphs are separated by blank lines.</summary>
    public static List<string> ParagraphsFromText(string text) => ParagraphsFromLines(text.Split('\n'));

    /// <summary>The split-file form of <paramref name="documents"/> (see the class summary).</summary>
    public static string Format(IEnumerable<CorpusDocument> documents) =>
        string.Join(DocumentSeparator, documents.Select(d => d.Text)) + "\n";

    /// <summary>
    /// The documents of a split file as texts (paragraphs separated by "\n\n"), in file order. Inverse of
    /// <see cref="Format"/> up to the source and id, which the file does not carry (see provenance.json).
    /// </summary>
    public static IReadOnlyList<string> ReadDocuments(string path)
    {
        var text = File.ReadAllText(path, Encoding.UTF8);
        if (text.EndsWith('\n'))
            text = text[..^1];
        return text.Length == 0 ? [] : text.Split(DocumentSeparator);
    }
}
