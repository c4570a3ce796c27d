using System.Security.Cryptography;
using System.Text.Json;
using LlmFp4.Kit.Data;
using LlmFp4.Kit.Evaluation;
using LlmFp4.Kit.Tests.Tokenizers;

namespace LlmFp4.Kit.Tests.Data;

// The diatheke test starts (or tries to start) a child process.
[Collection(ProcessWideStateCollection.Name)]
public class VerseRetrievalBuilderTests
{
    [Theory]
    // The WEB module glues words across tags; titles, tags and paragraph marks go; entities are decoded.
    [InlineData("<w savlm=\"strong:H0430\">God</w><w savlm=\"strong:H1254\">created</w> <w>the</w> heavens.", "God created the heavens.")]
    [InlineData("his <w>only</w> born</q><q marker=\"\"><w>Son</w>, that", "his only born Son, that")]
    [InlineData("Meribah</w>;<w>because</w> x", "Meribah; because x")]
    [InlineData("<title type=\"psalm\">A Psalm of David.</title> <l level=\"1\"/>¶ The <transChange type=\"added\">fear</transChange>\n  of &amp; the", "The fear of & the")]
    [InlineData("saints. Amen. <chapter eID=\"Rev.22\"/> <div canonical=\"true\" eID=\"g1\" osisID=\"Rev\" type=\"book\"/> <div type=\"glossary\"/> Abaddon is…", "saints. Amen.")]
    public void CleanVerseKeepsTheWordsOfTheMarkup(string markup, string expected) =>
        Assert.Equal(expected, VerseRetrievalBuilder.CleanVerse(markup));

    [Fact]
    public void ParseModuleSplitsVersesAcrossLinesAndDropsLeadingMarkup()
    {
        const string output = """
            Genesis 1:1: <w>In</w> the beginning.
            <title type="psalm">A Psalm.</title> <lg sID="1"/> <l sID="2"/>Psalms 3:1: Yahweh, how
            many are <w>they</w>!
            Song of Solomon 1:1: The song of songs.
            III John 1:15: Peace be to thee.
            Esther (Greek) 4:6: Extra.
            (engWEB2015eb)
            """;
        var verses = VerseRetrievalBuilder.ParseModule(output, "engWEB2015eb");
        Assert.Equal(["Genesis 1:1", "Psalms 3:1", "Song of Solomon 1:1", "III John 1:15", "Esther (Greek) 4:6"], verses.Select(v => v.Id));
        Assert.Equal("Yahweh, how many are they!", verses[1].Text);
        Assert.Throws<InvalidDataException>(() => VerseRetrievalBuilder.ParseModule("(engKJV2006eb)\n", "engKJV2006eb"));
    }

    [Fact]
    public void DrawKeepsUniqueVersesOfBothTranslationsAndIsDeterministic()
    {
        var kjv = Enumerable.Range(0, 40).Select(i => ($"V {i}", $"kjv {i}")).Append(("V 40", "refrain")).Append(("V 41", "refrain")).ToList();
        var web = Enumerable.Range(0, 40).Select(i => ($"V {i}", i == 7 ? "" : $"web {i}")).Append(("V 40", "a")).Append(("V 41", "b")).Append(("V 99", "only web")).ToList();
        var options = new VerseRetrievalOptions(Seed: 3, Pairs: 20, CalibrationVerses: 10);
        var (pairs, calibration, common, usable) = VerseRetrievalBuilder.Draw(kjv, web, options);
        Assert.Equal((42, 39), (common, usable)); // V 7 has no WEB text, V 40 and V 41 share their KJV text
        Assert.Equal(20, pairs.Count);
        Assert.Equal(20, calibration.Count);
        Assert.All(pairs, p => Assert.Equal(p.Id.Replace("V ", "kjv "), p.Kjv));
        Assert.Empty(calibration.Intersect(pairs.SelectMany(p => new[] { p.Kjv, p.Web })));
        Assert.Equal(pairs, VerseRetrievalBuilder.Draw(kjv, web, options).Pairs);
        Assert.NotEqual(pairs, VerseRetrievalBuilder.Draw(kjv, web, options with { Seed = 4 }).Pairs);
        Assert.Throws<InvalidDataException>(() => VerseRetrievalBuilder.Draw(kjv, web, options with { Pairs = 35 }));
    }

    [Fact]
    public void TheCommittedTaskMatchesItsProvenance()
    {
        string folder = RepositoryFiles.Path("data/tasks/verse-retrieval");
        using var provenance = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "provenance.json")));
        foreach (var file in provenance.RootElement.GetProperty("outputSha256").EnumerateObject())
            Assert.Equal(file.Value.GetString(), Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(folder, file.Name)))));
        var pairs = VerseRetrieval.Read(Path.Combine(folder, VerseRetrieval.PairsFile));
        Assert.Empty(pairs.Skipped);
        Assert.Equal(provenance.RootElement.GetProperty("options").GetProperty("pairs").GetInt32(), pairs.Items.Count);
        Assert.Equal(pairs.Items.Count, pairs.Items.Select(p => p.Id).Distinct().Count());
        var evaluated = pairs.Items.SelectMany(p => new[] { p.Kjv, p.Web }).ToHashSet();
        Assert.DoesNotContain(File.ReadLines(Path.Combine(folder, VerseRetrievalBuilder.CalibrationFile)), evaluated.Contains);
    }

    [Fact]
    public void AMissingDiathekeIsAnErrorThatSaysWhatToInstall()
    {
        string folder = Directory.CreateTempSubdirectory("llmfp4-verses-").FullName;
        try
        {
            var error = Assert.Throws<InvalidOperationException>(() =>
                VerseRetrievalBuilder.Build(folder, new VerseRetrievalOptions(), diatheke: Path.Combine(folder, "no-diatheke")));
            Assert.Contains("sword-text-kjv", error.Message);
            Assert.Empty(Directory.EnumerateFileSystemEntries(folder));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
