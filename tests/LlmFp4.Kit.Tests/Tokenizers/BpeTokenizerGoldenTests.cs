using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LlmFp4.Kit.Models.Tokenizers;

namespace LlmFp4.Kit.Tests.Tokenizers;

/// <summary>
/// Agreement with Tokenizers.js (tests/golden/make_tokenizer_golden.mjs made tokenizer_golden.json) on the
/// committed tokenizer and the hand-written SentencePiece-style files, and the whole-test-split round trip.
/// </summary>
public class BpeTokenizerGoldenTests
{
    private sealed record GoldenCase(string Tokenizer, string Text, int[] Ids, string Decoded);
    private sealed record GoldenSplit(string Tokenizer, string File, string TextSha256, int Count, string IdsSha256);
    private sealed record Golden(string Llama3Pattern, List<GoldenCase> Cases, GoldenSplit TestSplit);

    private static readonly Golden Data = JsonSerializer.Deserialize<Golden>(
        File.ReadAllText(RepositoryFiles.Path("tests/golden/tokenizer_golden.json")),
        new JsonSerializerOptions { PropertyNameCaseInsensitive = true })!;

    private static readonly Dictionary<string, BpeTokenizer> Tokenizers = Data.Cases.Select(c => c.Tokenizer).Distinct()
        .ToDictionary(name => name, Load);

    /// <summary>A committed file, or "file#llama3-split": the file with LLaMA-3's pre-tokenizer, as the golden script makes it.</summary>
    private static BpeTokenizer Load(string name)
    {
        var parts = name.Split('#');
        if (parts.Length == 1)
            return BpeTokenizer.Load(RepositoryFiles.Path(name));
        Assert.Equal("llama3-split", parts[1]);
        var json = JsonNode.Parse(File.ReadAllText(RepositoryFiles.Path(parts[0])))!;
        json["pre_tokenizer"] = new JsonObject
        {
            ["type"] = "Sequence",
            ["pretokenizers"] = new JsonArray(
                new JsonObject { ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = Data.Llama3Pattern }, ["behavior"] = "Isolated", ["invert"] = false },
                new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = false }),
        };
        json["model"]!["ignore_merges"] = true;
        return BpeTokenizer.Parse(json.ToJsonString(), name);
    }

    public static TheoryData<int> CaseIndices()
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < Data.Cases.Count; i++)
            data.Add(i);
        return data;
    }

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void EncodeAndDecodeMatchTokenizersJs(int index)
    {
        var c = Data.Cases[index];
        var tokenizer = Tokenizers[c.Tokenizer];
        Assert.Equal(c.Ids, tokenizer.Encode(c.Text));
        Assert.Equal(c.Decoded, tokenizer.Decode(c.Ids));
    }

    [Fact]
    public void WholeTestSplitRoundTripsAndMatchesTokenizersJs()
    {
        var split = Data.TestSplit;
        var tokenizer = BpeTokenizer.Load(RepositoryFiles.Path(split.Tokenizer));
        var text = File.ReadAllText(RepositoryFiles.Path(split.File), Encoding.UTF8);
        Assert.Equal(split.TextSha256, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text))));

        var ids = tokenizer.Encode(text);

        Assert.Equal(text, tokenizer.Decode(ids));
        Assert.Equal(split.Count, ids.Length);
        var bytes = new byte[ids.Length * 4];
        for (int i = 0; i < ids.Length; i++)
            BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(4 * i), ids[i]);
        Assert.Equal(split.IdsSha256, Convert.ToHexStringLower(SHA256.HashData(bytes)));
    }

    [Fact]
    public void CommittedTokenizerHasTheDocumentedLayout()
    {
        var tokenizer = BpeTokenizer.Load(RepositoryFiles.Path("data/tokenizer/tokenizer.json"));
        Assert.Equal(4096, tokenizer.VocabSize);
        Assert.Equal(0, tokenizer.BosTokenId);
        Assert.Equal(0, tokenizer.EosTokenId);
        Assert.Equal("<|endoftext|>", tokenizer.IdToToken(0));
        Assert.Equal("Ġ", tokenizer.IdToToken(1 + ' '));
        Assert.Equal(4096 - 257, tokenizer.Model.MergeCount);
    }
}
