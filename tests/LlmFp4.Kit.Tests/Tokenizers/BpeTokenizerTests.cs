using System.Text.Json.Nodes;
using LlmFp4.Kit.Models.Tokenizers;

namespace LlmFp4.Kit.Tests.Tokenizers;

public class BpeTokenizerTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("llmfp4-tokenizer-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    /// <summary>
    /// A GPT-2 style file: byte b has id b, merges (pair form) 256 "ll", 257 "Ġw", 258 "or", 259 "Ġwor",
    /// and "&lt;|endoftext|&gt;" = 260.
    /// </summary>
    private string WriteTinyByteLevel(Action<JsonObject>? edit = null)
    {
        var vocab = new JsonObject();
        for (int b = 0; b < 256; b++)
            vocab[ByteLevelAlphabet.Char((byte)b).ToString()] = b;
        vocab["ll"] = 256;
        vocab["Ġw"] = 257;
        vocab["or"] = 258;
        vocab["Ġwor"] = 259;
        var byteLevel = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true };
        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(new JsonObject { ["id"] = 260, ["content"] = "<|endoftext|>", ["special"] = true }),
            ["normalizer"] = null,
            ["pre_tokenizer"] = byteLevel,
            ["decoder"] = byteLevel.DeepClone(),
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["vocab"] = vocab,
                ["merges"] = new JsonArray(new JsonArray("l", "l"), new JsonArray("Ġ", "w"), new JsonArray("o", "r"), new JsonArray("Ġw", "or")),
            },
        };
        edit?.Invoke(root);
        var path = Path.Combine(_folder, "tokenizer.json");
        File.WriteAllText(path, root.ToJsonString());
        return path;
    }

    [Fact]
    public void ByteLevelFileGivesHandComputedIds()
    {
        var tokenizer = BpeTokenizer.Load(WriteTinyByteLevel());

        // "hello" → h e (l l) o; " world" → (Ġw)(or) l d → (Ġwor) l d; then the special token.
        int[] expected = ['h', 'e', 256, 'o', 259, 'l', 'd', 260];
        Assert.Equal(expected, tokenizer.Encode("hello world<|endoftext|>"));
        Assert.Equal("hello world<|endoftext|>", tokenizer.Decode(expected));
        Assert.Equal(261, tokenizer.VocabSize);
        Assert.Equal(260, tokenizer.BosTokenId);
        Assert.Equal(260, tokenizer.EosTokenId);
    }

    [Fact]
    public void ByteLevelRoundTripsAnyUnicode()
    {
        var tokenizer = BpeTokenizer.Load(WriteTinyByteLevel());
        const string text = "naïve café — 東京 😀\t\r\n  x";
        var ids = tokenizer.Encode(text);
        Assert.Equal(text, tokenizer.Decode(ids));
        Assert.True(ids.Length >= System.Text.Encoding.UTF8.GetByteCount(text) - 2);
    }

    [Fact]
    public void StringAndPairMergeFormsAreEquivalent()
    {
        var pairs = BpeTokenizer.Load(WriteTinyByteLevel());
        var strings = BpeTokenizer.Load(WriteTinyByteLevel(root =>
            root["model"]!["merges"] = new JsonArray("l l", "Ġ w", "o r", "Ġw or")));
        Assert.Equal(pairs.Encode("hello world, well"), strings.Encode("hello world, well"));
    }

    [Fact]
    public void SentencePieceStyleFileGivesHandComputedIds()
    {
        var tokenizer = BpeTokenizer.Load(RepositoryFiles.Path("tests/golden/tokenizers/tiny-sentencepiece.json"));

        Assert.Equal([20, 25], tokenizer.Encode("hello world"));
        // ö has byte-fallback tokens <0xC3><0xB6>; é lacks <0xA9>, so it becomes <unk>.
        Assert.Equal([20, 21, 5, 6, 13, 24, 4], tokenizer.Encode("hello wörld!"));
        Assert.Equal([7, 8, 0, 19], tokenizer.Encode("héllo"));
        Assert.Equal("hello wörld!", tokenizer.Decode([20, 21, 5, 6, 13, 24, 4]));
        Assert.Equal(1, tokenizer.BosTokenId);
        Assert.Equal(2, tokenizer.EosTokenId);
        Assert.Equal(28, tokenizer.VocabSize);
    }

    [Fact]
    public void SentencePieceStyleLongTextWithoutPreTokenizerRoundTrips()
    {
        // No pre-tokenizer: the whole text is one word for the merge heap.
        var tokenizer = BpeTokenizer.Load(RepositoryFiles.Path("tests/golden/tokenizers/tiny-sentencepiece.json"));
        var text = string.Concat(Enumerable.Repeat("hello the world\n", 2000)).TrimEnd();
        var ids = tokenizer.Encode(text);
        Assert.Equal(text, tokenizer.Decode(ids));
        // Line 1: ▁hello ▁the ▁world <0x0A>; later lines start without "▁": he llo ▁the ▁world <0x0A>; no final newline.
        Assert.Equal(4 + 1999 * 5 - 1, ids.Length);
    }

    [Fact]
    public void MalformedJsonIsAnErrorNamingTheFile()
    {
        var path = Path.Combine(_folder, "broken.json");
        File.WriteAllText(path, "{ \"model\": { \"type\": \"BPE\", ");
        var ex = Assert.Throws<InvalidDataException>(() => BpeTokenizer.Load(path));
        Assert.Contains(path, ex.Message);
    }

    [Theory]
    [InlineData("vocab", "model.vocab")]
    [InlineData("merges", "model.merges")]
    public void MissingModelFieldIsNamed(string field, string expected)
    {
        var path = WriteTinyByteLevel(root => root["model"]!.AsObject().Remove(field));
        var ex = Assert.Throws<InvalidDataException>(() => BpeTokenizer.Load(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void UnsupportedModelTypeIsNamed()
    {
        var path = WriteTinyByteLevel(root => root["model"]!["type"] = "Unigram");
        var ex = Assert.Throws<InvalidDataException>(() => BpeTokenizer.Load(path));
        Assert.Contains("model.type 'Unigram'", ex.Message);
    }

    [Fact]
    public void UnsupportedPreTokenizerIsNamed()
    {
        var path = WriteTinyByteLevel(root => root["pre_tokenizer"] = new JsonObject
        {
            ["type"] = "Sequence",
            ["pretokenizers"] = new JsonArray(new JsonObject { ["type"] = "Digits" }),
        });
        var ex = Assert.Throws<InvalidDataException>(() => BpeTokenizer.Load(path));
        Assert.Contains("pre_tokenizer.pretokenizers[0].type 'Digits'", ex.Message);
    }

    [Fact]
    public void MergeOfUnknownTokenIsNamed()
    {
        var path = WriteTinyByteLevel(root => root["model"]!["merges"]!.AsArray().Add(new JsonArray("zz", "q")));
        var ex = Assert.Throws<InvalidDataException>(() => BpeTokenizer.Load(path));
        Assert.Contains("model.merges[4]", ex.Message);
    }

    [Fact]
    public void DecodingAnUnknownIdNamesIt()
    {
        var tokenizer = BpeTokenizer.Load(WriteTinyByteLevel());
        var ex = Assert.Throws<ArgumentException>(() => tokenizer.Decode([5000]));
        Assert.Contains("5000", ex.Message);
    }
}
