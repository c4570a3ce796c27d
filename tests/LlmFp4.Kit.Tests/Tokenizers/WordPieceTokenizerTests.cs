using System.Text.Json;
using LlmFp4.Kit.Models.Tokenizers;
using LlmFp4.Kit.Tests.Models;

namespace LlmFp4.Kit.Tests.Tokenizers;

/// <summary>
/// The WordPiece tokenizer against the Rust Hugging Face tokenizers (tests/golden/make_wordpiece_golden.cs made
/// wordpiece_golden.json from the tokenizer.json the MiniLM import writes), and its parts on a toy vocabulary.
/// </summary>
[Collection(MiniLmCollection.Name)]
public class WordPieceTokenizerTests(MiniLmFixture minilm)
{
    private sealed record GoldenCase(string Text, int[] Ids);
    private sealed record Golden(string TokenizerSha256, GoldenCase[] Cases);

    [Fact]
    public void MatchesHuggingFaceTokenizersOnTheMiniLmVocabulary()
    {
        var golden = JsonSerializer.Deserialize<Golden>(File.ReadAllText(RepositoryFiles.Path("tests/golden/wordpiece_golden.json")),
            new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower })!;
        Assert.Equal(golden.TokenizerSha256, minilm.Import.Outputs.Single(f => f.Name == "tokenizer.json").Sha256);
        var tokenizer = WordPieceTokenizer.Load(Path.Combine(minilm.Folder, "tokenizer.json"));
        Assert.Equal(256, tokenizer.MaxLength);
        Assert.True(golden.Cases.Length > 40);
        foreach (var c in golden.Cases)
            Assert.True(c.Ids.SequenceEqual(tokenizer.EncodeForModel(c.Text)),
                $"{JsonSerializer.Serialize(c.Text)}: expected {string.Join(",", c.Ids)}, got {string.Join(",", tokenizer.EncodeForModel(c.Text))}");
    }

    private static WordPieceTokenizer Toy(string normalizer = """{"type": "BertNormalizer", "lowercase": true}""", int? maxLength = null) =>
        WordPieceTokenizer.Parse($$$"""
        {
          "truncation": {{{(maxLength is { } max ? $$"""{"max_length": {{max}}, "direction": "Right"}""" : "null")}}},
          "added_tokens": [{"id": 0, "content": "[PAD]", "special": true}, {"id": 1, "content": "[UNK]", "special": true},
                           {"id": 2, "content": "[CLS]", "special": true}, {"id": 3, "content": "[SEP]", "special": true}],
          "normalizer": {{{normalizer}}},
          "pre_tokenizer": {"type": "BertPreTokenizer"},
          "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
          "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 10,
                    "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "un": 4, "##aff": 5, "##able": 6, "a": 7, "##a": 8,
                              "!": 9, "cafe": 10, "don": 11, "'": 12, "t": 13, "中": 14, "," : 15, "aaaaaaaaaa": 16}}
        }
        """, "toy.json");

    [Fact]
    public void GreedyLongestMatchWithContinuationsUnknownsAndTheWordLengthLimit()
    {
        var tokenizer = Toy();
        Assert.Equal([4, 5, 6], tokenizer.Encode("unaffable"));
        Assert.Equal([1], tokenizer.Encode("unaffablex")); // one piece missing makes the whole word [UNK]
        Assert.Equal([7, 8, 8, 8], tokenizer.Encode("aaaa")); // no longer piece matches: a ##a ##a ##a
        Assert.Equal([16], tokenizer.Encode(new string('a', 10))); // a whole word in the vocabulary, 10 characters: allowed
        Assert.Equal([1], tokenizer.Encode(new string('a', 11))); // 11 characters > max_input_chars_per_word
        Assert.Equal([2, 4, 5, 6, 9, 3], tokenizer.EncodeForModel("UNAFFABLE!"));
    }

    [Fact]
    public void NormalisesAndSplitsLikeBert()
    {
        var tokenizer = Toy();
        Assert.Equal([10, 9], tokenizer.Encode("Café!")); // accents stripped with lowercasing
        Assert.Equal([11, 12, 13], tokenizer.Encode("Don't")); // punctuation isolated
        Assert.Equal([7, 14, 7], tokenizer.Encode("a中a")); // CJK ideographs become words of their own
        Assert.Equal([7, 7], tokenizer.Encode("a\u0000\u200b\t\u3000a")); // controls dropped, Unicode spaces split
        Assert.Equal([2, 7, 3, 7], tokenizer.Encode("[CLS]a[SEP]a")); // special tokens matched in the raw text
        var cased = Toy("""{"type": "BertNormalizer", "lowercase": false}""");
        Assert.Equal([1], cased.Encode("Café"));
    }

    [Fact]
    public void TruncatesModelInputsOnTheRightAndDecodesWordPieces()
    {
        var tokenizer = Toy(maxLength: 4);
        Assert.Equal([2, 4, 5, 3], tokenizer.EncodeForModel("unaffable a"));
        Assert.Equal([2, 4, 5, 6, 7, 3], tokenizer.EncodeForModel("unaffable a", maxLength: 10));
        Assert.Equal([2, 4, 5, 6, 7, 3], tokenizer.Encode("unaffable a", addSpecialTokens: true)); // framed, not truncated
        Assert.Equal("unaffable, a!", tokenizer.Decode([4, 5, 6, 15, 7, 9]));
        Assert.Throws<ArgumentException>(() => tokenizer.Decode([99]));
    }

    [Fact]
    public void RejectsWhatItCannotRead()
    {
        Assert.Contains("model.type 'BPE' is not WordPiece",
            Assert.Throws<InvalidDataException>(() => WordPieceTokenizer.Parse("""{"model": {"type": "BPE", "vocab": {}, "merges": []}}""", "x.json")).Message);
        Assert.Contains("'[UNK]' is not in the vocabulary",
            Assert.Throws<InvalidDataException>(() => WordPieceTokenizer.Parse("""{"model": {"type": "WordPiece", "vocab": {"a": 0}}}""", "x.json")).Message);
        Assert.Contains("no [CLS] token",
            Assert.Throws<InvalidDataException>(() => WordPieceTokenizer.Parse("""{"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "[SEP]": 1}}}""", "x.json")).Message);
        Assert.Contains("token 'a' appears twice", Assert.Throws<InvalidDataException>(() => WordPieceModel.ReadVocabTxt("a\nb\na\n", "vocab.txt")).Message);
    }
}
