using System.Security.Cryptography;
using System.Text.Json;
using LlmFp4.Kit.Data;
using LlmFp4.Kit.Tests.Tokenizers;

namespace LlmFp4.Kit.Tests.Data;

public class CorpusSplitterTests
{
    private static List<CorpusDocument> Documents(params (string Source, int Count)[] sources) =>
        sources.SelectMany(s => Enumerable.Range(0, s.Count).Select(i => new CorpusDocument(s.Source, $"{s.Source}/{i}", [$"text {i}"]))).ToList();

    [Fact]
    public void SameSeedSameSplitDifferentSeedDifferentSplit()
    {
        var docs = Documents(("a", 100), ("b", 40));
        var first = CorpusSplitter.Assign(docs, new CorpusSplitSettings(Seed: 7));
        Assert.Equal(first, CorpusSplitter.Assign(docs, new CorpusSplitSettings(Seed: 7)));
        Assert.NotEqual(first, CorpusSplitter.Assign(docs, new CorpusSplitSettings(Seed: 8)));
    }

    [Fact]
    public void EverySplitHasEverySourceInProportion()
    {
        var docs = Documents(("a", 100), ("b", 40), ("c", 3));
        var splits = CorpusSplitter.Assign(docs, new CorpusSplitSettings());

        int Count(string source, CorpusSplit split) => docs.Where((d, i) => d.Source == source && splits[i] == split).Count();
        Assert.Equal((90, 5, 5), (Count("a", CorpusSplit.Train), Count("a", CorpusSplit.Validation), Count("a", CorpusSplit.Test)));
        Assert.Equal((36, 2, 2), (Count("b", CorpusSplit.Train), Count("b", CorpusSplit.Validation), Count("b", CorpusSplit.Test)));
        Assert.Equal((1, 1, 1), (Count("c", CorpusSplit.Train), Count("c", CorpusSplit.Validation), Count("c", CorpusSplit.Test)));
    }

    [Fact]
    public void AddingASourceLeavesTheOthersUnchanged()
    {
        var before = CorpusSplitter.Assign(Documents(("a", 50)), new CorpusSplitSettings());
        var after = CorpusSplitter.Assign(Documents(("a", 50), ("z", 20)), new CorpusSplitSettings());
        Assert.Equal(before, after[..50]);
    }

    [Fact]
    public void TooSmallSourceIsRejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => CorpusSplitter.Assign(Documents(("a", 50), ("tiny", 2)), new CorpusSplitSettings()));
        Assert.Contains("tiny", ex.Message);
    }

    [Fact]
    public void CommittedCorpusMatchesItsProvenance()
    {
        using var json = JsonDocument.Parse(File.ReadAllText(RepositoryFiles.Path("data/corpus/provenance.json")));
        var splits = json.RootElement.GetProperty("splits").EnumerateArray().ToList();
        Assert.Equal(["train", "validation", "test"], splits.Select(s => s.GetProperty("split").GetString()));
        var sources = json.RootElement.GetProperty("sourceLicences").EnumerateObject().Select(p => p.Name).ToList();
        foreach (var split in splits)
        {
            var path = RepositoryFiles.Path("data/corpus/" + split.GetProperty("file").GetString());
            var bytes = File.ReadAllBytes(path);
            Assert.Equal(split.GetProperty("sha256").GetString(), Convert.ToHexStringLower(SHA256.HashData(bytes)));
            Assert.Equal(split.GetProperty("documents").GetInt32(), CorpusText.ReadDocuments(path).Count);
            Assert.All(sources, source => Assert.True(split.GetProperty("documentsPerSource").GetProperty(source).GetInt32() > 0));
        }
    }
}
