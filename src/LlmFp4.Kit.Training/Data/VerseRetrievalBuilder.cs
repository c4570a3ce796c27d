using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.RegularExpressions;
using LlmFp4.Kit.Evaluation;

namespace LlmFp4.Kit.Data;

/// <summary>How the verse-retrieval task is drawn; serialised into its provenance.</summary>
/// <param name="Seed">Seed of the shuffle that picks the verses.</param>
/// <param name="Pairs">Evaluated KJV–WEB pairs.</param>
/// <param name="CalibrationVerses">Further verses, disjoint from the pairs, whose two translations form the calibration text.</param>
public sealed record VerseRetrievalOptions(int Seed = 0, int Pairs = 2000, int CalibrationVerses = 512);

/// <summary>A Bible module read through diatheke, with the Debian package that ships it and the hashes of its files.</summary>
public sealed record VerseModule(string Module, string Package, string PackageVersion, string ModuleVersion, IReadOnlyDictionary<string, string> FileSha256);

/// <summary>Everything needed to trace the verse task back to its sources; written as provenance.json and README.md.</summary>
public sealed record VerseRetrievalManifest(VerseRetrievalOptions Options, string Diatheke, IReadOnlyList<VerseModule> Modules,
    int KjvVerses, int WebVerses, int CommonVerses, int UsableVerses, IReadOnlyDictionary<string, string> OutputSha256, string KitVersion);

/// <summary>
/// Builds <c>data/tasks/verse-retrieval/</c> from Debian's SWORD modules of the King James Version (sword-text-kjv,
/// module engKJV2006eb) and the World English Bible (sword-text-web, engWEB2015eb), both public domain, printed by
/// <c>diatheke</c>: <c>pairs.jsonl</c> (the evaluated verses), <c>calibration.txt</c> (other verses, one translation per
/// line) and their provenance. The same modules, options and kit give the same bytes.
/// </summary>
/// <remarks>
/// Verses are matched by reference (the WEB module uses the NRSVA versification, the KJV its own; references present in
/// only one are dropped). A verse is usable when both texts are non-empty and each is unique within its translation
/// (refrains such as "And the LORD spake unto Moses, saying," would make retrieval ambiguous). The usable references are
/// shuffled (Fisher–Yates, <see cref="Random"/> seeded by <see cref="VerseRetrievalOptions.Seed"/>); the first
/// <see cref="VerseRetrievalOptions.Pairs"/> are the task, the next <see cref="VerseRetrievalOptions.CalibrationVerses"/>
/// the calibration text.
/// </remarks>
public static partial class VerseRetrievalBuilder
{
    public const string KjvModule = "engKJV2006eb", WebModule = "engWEB2015eb", CalibrationFile = "calibration.txt";

    /// <summary>
    /// Reads both modules through <paramref name="diatheke"/>, draws the task and writes its files to
    /// <paramref name="outputFolder"/> (each through a temporary file).
    /// </summary>
    /// <exception cref="InvalidOperationException">diatheke cannot be run or a module is not installed.</exception>
    /// <exception cref="InvalidDataException">The modules give too few usable verses for the options.</exception>
    public static VerseRetrievalManifest Build(string outputFolder, VerseRetrievalOptions options, string diatheke = "diatheke", Action<string>? log = null)
    {
        log?.Invoke($"reading {KjvModule}");
        var kjv = ParseModule(RunDiatheke(diatheke, KjvModule), KjvModule);
        log?.Invoke($"reading {WebModule}");
        var web = ParseModule(RunDiatheke(diatheke, WebModule), WebModule);
        var (pairs, calibration, common, usable) = Draw(kjv, web, options);

        var pairLines = pairs.Select(p => JsonSerializer.Serialize(p, JsonOptions)).ToList();
        var outputs = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            [VerseRetrieval.PairsFile] = Sha256(pairLines),
            [CalibrationFile] = Sha256(calibration),
        };
        var manifest = new VerseRetrievalManifest(options, Version(diatheke), [Module(KjvModule, "sword-text-kjv"), Module(WebModule, "sword-text-web")],
            kjv.Count, web.Count, common, usable, outputs, KitInfo.Version);
        AtomicFile.WriteLines(Path.Combine(outputFolder, VerseRetrieval.PairsFile), pairLines);
        AtomicFile.WriteLines(Path.Combine(outputFolder, CalibrationFile), calibration);
        AtomicFile.WriteText(Path.Combine(outputFolder, "provenance.json"),
            writer => writer.Write(JsonSerializer.Serialize(manifest, ManifestOptions) + "\n"));
        AtomicFile.WriteText(Path.Combine(outputFolder, "README.md"), writer => writer.Write(Readme(manifest)));
        log?.Invoke($"wrote {pairs.Count} pairs and {calibration.Count} calibration lines to {outputFolder}");
        return manifest;
    }

    /// <summary>
    /// The evaluated pairs and the calibration lines (the KJV then the WEB text of each calibration verse), drawn from
    /// the verses both translations have; also the counts of common and usable references.
    /// </summary>
    public static (List<VersePair> Pairs, List<string> Calibration, int Common, int Usable) Draw(
        IReadOnlyList<(string Id, string Text)> kjv, IReadOnlyList<(string Id, string Text)> web, VerseRetrievalOptions options)
    {
        var webById = web.ToDictionary(v => v.Id, v => v.Text, StringComparer.Ordinal);
        var common = kjv.Where(v => webById.ContainsKey(v.Id)).Select(v => new VersePair(v.Id, v.Text, webById[v.Id])).ToList();
        var kjvCounts = kjv.GroupBy(v => v.Text, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var webCounts = web.GroupBy(v => v.Text, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var usable = common.Where(p => p.Kjv.Length > 0 && p.Web.Length > 0 && kjvCounts[p.Kjv] == 1 && webCounts[p.Web] == 1).ToArray();
        if (usable.Length < options.Pairs + options.CalibrationVerses)
            throw new InvalidDataException(
                $"Only {usable.Length} usable verses for {options.Pairs} pairs and {options.CalibrationVerses} calibration verses.");
        var random = new Random(options.Seed);
        for (int i = usable.Length - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (usable[i], usable[j]) = (usable[j], usable[i]);
        }
        var calibration = usable.Skip(options.Pairs).Take(options.CalibrationVerses).SelectMany(p => new[] { p.Kjv, p.Web }).ToList();
        return ([.. usable.Take(options.Pairs)], calibration, common.Count, usable.Length);
    }

    /// <summary>
    /// The verses of diatheke's <c>-f internal</c> output (OSIS markup, one verse per line starting "Book C:V: ", with
    /// continuation lines for verses that span several), by reference in Bible order, as plain text (<see cref="CleanVerse"/>).
    /// </summary>
    public static List<(string Id, string Text)> ParseModule(string output, string module)
    {
        var verses = new List<(string Id, string Text)>();
        string? id = null;
        var text = new StringBuilder();
        foreach (string rawLine in output.Split('\n'))
        {
            string line = Title().Replace(rawLine.TrimEnd('\r'), "");
            if (line.Trim() == $"({module})") continue;
            var start = VerseStart().Match(line);
            if (start.Success)
            {
                Flush();
                id = start.Groups["ref"].Value;
                text.Append(line[(start.Index + start.Length)..]);
            }
            else if (id is not null)
                text.Append('\n').Append(line);
        }
        Flush();
        if (verses.Count == 0) throw new InvalidDataException($"diatheke printed no verses of {module}.");
        return verses;

        void Flush()
        {
            if (id is not null) verses.Add((id, CleanVerse(text.ToString())));
            text.Clear();
        }
    }

    /// <summary>
    /// A verse's OSIS markup as plain text: cut where its book ends (the WEB module prints its glossary after the last
    /// verse of Revelation), section titles removed, every tag removed (their words kept: Strong's
    /// <c>w</c>, <c>transChange</c>, <c>divineName</c>, quotation and line markup), entities decoded, paragraph marks (¶)
    /// dropped, white space collapsed. The WEB module glues some words to the next tagged word ("God&lt;/w&gt;&lt;w…&gt;created",
    /// "born&lt;/q&gt;&lt;q&gt;&lt;w&gt;Son"); a space is put where a word or clause punctuation meets a following <c>&lt;w&gt;</c>
    /// tag with only markup between them (the KJV module has no such place).
    /// </summary>
    public static string CleanVerse(string markup)
    {
        if (BookEnd().Match(markup) is { Success: true } end) markup = markup[..end.Index];
        string text = GluedWord().Replace(Title().Replace(markup, ""), "$1$2 <w");
        text = WebUtility.HtmlDecode(Tag().Replace(text, "")).Replace("¶", " ");
        return Space().Replace(text, " ").Trim();
    }

    private static string RunDiatheke(string diatheke, string module)
    {
        string output = Run(diatheke, "-b", module, "-f", "internal", "-k", "Gen 1:1-Rev 22:21");
        if (!output.Contains($"({module})", StringComparison.Ordinal))
            throw new InvalidOperationException($"{diatheke} printed nothing for module {module}; is its Debian package installed?");
        return output;
    }

    private static string Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, StandardOutputEncoding = Encoding.UTF8,
        };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        try
        {
            using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {program}.");
            var stderr = process.StandardError.ReadToEndAsync();
            string output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
                throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} exited with code {process.ExitCode}: {stderr.Result.Trim()}");
            return output;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException($"Could not run {program} ({ex.Message}); install Debian's diatheke, sword-text-kjv and sword-text-web.", ex);
        }
    }

    private static string Version(string diatheke) => PackageVersion("diatheke") is { } version ? $"diatheke {version}" : diatheke;

    private static string? PackageVersion(string package)
    {
        try
        {
            string version = Run("dpkg-query", "-W", "-f=${Version}", package).Trim();
            return version.Length > 0 ? version : null;
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>The module's package version, its conf's Version and the SHA-256 of its conf and data files.</summary>
    private static VerseModule Module(string module, string package)
    {
        const string root = "/usr/share/sword";
        var files = new SortedDictionary<string, string>(StringComparer.Ordinal);
        string conf = Path.Combine(root, "mods.d", module + ".conf");
        string moduleVersion = "";
        if (File.Exists(conf))
        {
            files[$"mods.d/{module}.conf"] = Sha256(File.ReadAllBytes(conf));
            moduleVersion = File.ReadLines(conf).FirstOrDefault(l => l.StartsWith("Version=", StringComparison.Ordinal))?["Version=".Length..] ?? "";
        }
        string data = Path.Combine(root, "modules", "texts", "ztext", module);
        if (Directory.Exists(data))
            foreach (string file in Directory.EnumerateFiles(data).Order(StringComparer.Ordinal))
                files[$"modules/texts/ztext/{module}/{Path.GetFileName(file)}"] = Sha256(File.ReadAllBytes(file));
        return new VerseModule(module, package, PackageVersion(package) ?? "", moduleVersion, files);
    }

    private static string Readme(VerseRetrievalManifest m)
    {
        var readme = new StringBuilder();
        readme.Append($"""
            # Verse retrieval: King James Version ↔ World English Bible

            A labelled task for sentence encoders built from two public-domain translations. Each line of `pairs.jsonl` is
            `{"{"}"id", "kjv", "web"{"}"}`: the task is to find each KJV verse's WEB translation among the {m.Options.Pairs} WEB verses
            (cosine similarity of the embeddings; recall@1, recall@10 and mean reciprocal rank, `llmfp4 retrieval`).
            `calibration.txt` holds {m.Options.CalibrationVerses} other verses, the KJV then the WEB text of each on its own line,
            for calibrating quantized encoders without touching the evaluated verses.

            Verses were matched by reference: {m.KjvVerses} KJV and {m.WebVerses} WEB verses, {m.CommonVerses} references in both,
            {m.UsableVerses} usable (both texts non-empty and unique within their translation). Text: OSIS markup of `diatheke -f internal`
            with titles and tags removed (their words kept), white space collapsed; see `VerseRetrievalBuilder.CleanVerse`. The
            usable verses were shuffled with seed {m.Options.Seed}; the first {m.Options.Pairs} are the pairs, the next {m.Options.CalibrationVerses} the calibration verses.

            Rebuild (byte-identical for the same modules and kit):

                llmfp4 tasks verses --out data/tasks/verse-retrieval --seed {m.Options.Seed} --pairs {m.Options.Pairs} --calibration {m.Options.CalibrationVerses}

            ## Sources (public domain)

            | module | Debian package | version | module version | read with |
            |---|---|---|---|---|

            """);
        foreach (var module in m.Modules)
            readme.Append($"| {module.Module} | {module.Package} | {module.PackageVersion} | {module.ModuleVersion} | {m.Diatheke} |\n");
        readme.Append("\n| file | sha256 |\n|---|---|\n");
        foreach (var module in m.Modules)
            foreach (var (file, sha) in module.FileSha256) readme.Append($"| /usr/share/sword/{file} | `{sha}` |\n");
        readme.Append($"\n## Files\n\n| file | sha256 |\n|---|---|\n");
        foreach (var (file, sha) in m.OutputSha256) readme.Append($"| {file} | `{sha}` |\n");
        readme.Append($"\nKit version {m.KitVersion}.\n");
        return readme.ToString();
    }

    /// <summary>SHA-256 of the lines as <see cref="AtomicFile.WriteLines"/> writes them (UTF-8, each ended by '\n').</summary>
    private static string Sha256(IEnumerable<string> lines) => Sha256(Encoding.UTF8.GetBytes(string.Concat(lines.Select(l => l + "\n"))));

    private static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private static readonly JsonSerializerOptions ManifestOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, WriteIndented = true,
    };

    /// <summary>"Genesis 1:1: ", "1 Kings 2:3: ", "Song of Solomon 1:1: ", "Esther (Greek) 4:6: " after any leading markup of the line.</summary>
    [GeneratedRegex(@"^(?:\s|<[^>]*>)*(?<ref>(?:[1-4] )?[A-Z][\w()]*(?: [\w()]+)*? \d+:\d+): ")]
    private static partial Regex VerseStart();

    /// <summary>The milestone closing a book: <c>&lt;div … eID="…" … type="book"/&gt;</c>.</summary>
    [GeneratedRegex(@"<div\b(?=[^>]*\beID=)(?=[^>]*\btype=""book"")[^>]*>")]
    private static partial Regex BookEnd();

    [GeneratedRegex(@"<title\b[^>]*>.*?</title>", RegexOptions.Singleline)]
    private static partial Regex Title();

    [GeneratedRegex(@"(</w>|[\p{L},;:.!?])((?:<[^>]*>)*)<w\b")]
    private static partial Regex GluedWord();

    [GeneratedRegex(@"<[^>]*>")]
    private static partial Regex Tag();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Space();
}
