using System.Text.Json.Nodes;
using LlmFp4.Kit.Models.Tokenizers;
using LlmFp4.Kit.Tests.Loading;

namespace LlmFp4.Kit.Tests.Tokenizers;

/// <summary>
/// Special tokens as Hugging Face adds them: tokenizer.json's post_processor against the Rust tokenizers
/// (tests/golden/make_postprocessor_golden.cs made postprocessor_golden.json with Tokenizers.DotNet), and
/// tokenizer_config.json's add_bos_token / add_eos_token as transformers rebuilds the post-processor from them.
/// </summary>
public class PostProcessorTests
{
    private const string Llama = "tests/golden/tokenizers/tiny-sentencepiece.json";

    private static readonly JsonArray Golden = JsonNode.Parse(File.ReadAllText(RepositoryFiles.Path("tests/golden/postprocessor_golden.json")))!.AsArray();

    private static JsonNode Json(string relative) => JsonNode.Parse(File.ReadAllText(RepositoryFiles.Path(relative)))!;

    /// <summary>The committed tokenizer file with another post_processor, as the golden script wrote it.</summary>
    private static BpeTokenizer WithPostProcessor(string file, JsonNode? postProcessor, TokenizerConfig? config = null)
    {
        var json = Json(file);
        json["post_processor"] = postProcessor?.DeepClone();
        return BpeTokenizer.Parse(json.ToJsonString(), file, config);
    }

    /// <summary>The Rust tokenizers' ids for a golden case and text.</summary>
    internal static int[] GoldenIds(string caseName, string text) =>
        [.. Golden.Single(c => (string)c!["case"]! == caseName && (string)c["text"]! == text)!["ids"]!.AsArray().Select(id => (int)id!)];

    public static TheoryData<int> Cases()
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < Golden.Count; i++)
            data.Add(i);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void SpecialTokensMatchTheRustTokenizers(int index)
    {
        var c = Golden[index]!;
        var tokenizer = WithPostProcessor((string)c["tokenizer"]!, c["post_processor"]);
        string text = (string)c["text"]!;
        int[] expected = [.. c["ids"]!.AsArray().Select(id => (int)id!)];

        Assert.Equal(expected, tokenizer.Encode(text, addSpecialTokens: true));
        Assert.Equal(tokenizer.Encode(text), ((ITokenizer)tokenizer).Encode(text, addSpecialTokens: false));
    }

    [Fact]
    public void TheIssuesLlamaLayoutStartsWithBos()
    {
        var tokenizer = BpeTokenizer.Load(RepositoryFiles.Path(Llama));
        Assert.Equal([1, .. tokenizer.Encode("Hello, my dog")], tokenizer.Encode("Hello, my dog", addSpecialTokens: true));
        Assert.Equal(GoldenIds("llama: <s> $A", "Hello, my dog"), tokenizer.Encode("Hello, my dog", addSpecialTokens: true));
    }

    /// <summary>
    /// transformers' LlamaTokenizerFast.update_post_processor: add_bos_token / add_eos_token become the template
    /// [bos] $A [eos], whatever tokenizer.json's post_processor says; the golden ids of that template check the result.
    /// </summary>
    [Fact]
    public void TokenizerConfigFlagsRebuildThePostProcessor()
    {
        string text = "hello world";
        TokenizerConfig Config(bool? bos, bool? eos, string? tokenizerClass = null) => new("<s>", "</s>", bos, eos, tokenizerClass);

        Assert.Equal(GoldenIds("llama: <s> $A </s>", text), WithPostProcessor(Llama, null, Config(true, true)).Encode(text, true));
        Assert.Equal(GoldenIds("llama: $A </s>", text), WithPostProcessor(Llama, null, Config(null, true)).Encode(text, true));
        Assert.Equal(GoldenIds("none", text), BpeTokenizer.Parse(Json(Llama).ToJsonString(), Llama, Config(false, null)).Encode(text, true));
        // LLaMA classes default to add_bos_token = true, add_eos_token = false.
        Assert.Equal(GoldenIds("llama: <s> $A", text), WithPostProcessor(Llama, null, Config(null, null, "LlamaTokenizerFast")).Encode(text, true));
        Assert.Equal(GoldenIds("llama: <s> $A </s>", text), WithPostProcessor(Llama, null, Config(null, true, "LlamaTokenizer")).Encode(text, true));
        // Other classes without the flags keep tokenizer.json's post_processor.
        Assert.Equal(GoldenIds("llama: <s> $A", text), BpeTokenizer.Parse(Json(Llama).ToJsonString(), Llama, Config(null, null, "PreTrainedTokenizerFast")).Encode(text, true));
    }

    [Fact]
    public void TokenizerConfigBesideTheFileNamesBosAndEos()
    {
        using var temp = new TempFolder();
        var json = Json("data/tokenizer/tokenizer.json");
        File.WriteAllText(temp.File("tokenizer.json"), json.ToJsonString());
        File.WriteAllText(temp.File(TokenizerConfig.FileName),
            """{"bos_token": {"__type": "AddedToken", "content": "<|endoftext|>"}, "eos_token": "<|endoftext|>", "add_bos_token": true, "tokenizer_class": "GPT2Tokenizer"}""");

        var tokenizer = BpeTokenizer.Load(temp.File("tokenizer.json"));

        Assert.Equal((0, 0), (tokenizer.BosTokenId, tokenizer.EosTokenId));
        Assert.Equal(GoldenIds("llama-3 layout: Sequence [ByteLevel, <|endoftext|> $A]", "hello world"), tokenizer.Encode("hello world", true));
    }

    [Theory]
    [InlineData("""{"bos_token": "<nope>"}""", "bos_token '<nope>' is not in the tokenizer's vocabulary")]
    [InlineData("""{"add_eos_token": true, "eos_token": null}""", "add_eos_token is true but there is no EOS token")]
    [InlineData("""{"add_bos_token": "yes"}""", "add_bos_token is not true or false")]
    [InlineData("""{"eos_token": 2}""", "eos_token is neither a string nor an object")]
    [InlineData("""[1]""", "the top level is not a JSON object")]
    public void BadTokenizerConfigsAreNamedErrors(string config, string message)
    {
        using var temp = new TempFolder();
        var json = Json("data/tokenizer/tokenizer.json");
        json["added_tokens"]!.AsArray().Clear();
        File.WriteAllText(temp.File("tokenizer.json"), json.ToJsonString());
        File.WriteAllText(temp.File(TokenizerConfig.FileName), config);

        var error = Assert.Throws<InvalidDataException>(() => BpeTokenizer.Load(temp.File("tokenizer.json")));
        Assert.Contains(temp.File(TokenizerConfig.FileName), error.Message);
        Assert.Contains(message, error.Message);
    }

    [Theory]
    [InlineData("""{"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<x>", "type_id": 0}}], "special_tokens": {}}""",
        "post_processor.single[0] names special token '<x>', which special_tokens does not define")]
    [InlineData("""{"type": "TemplateProcessing", "single": [{"Sequence": {"id": "B", "type_id": 0}}], "special_tokens": {}}""",
        "post_processor.single[0] is sequence $B")]
    [InlineData("""{"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": "<s>"}""", "post_processor.cls is not a [\"token\", id] pair")]
    [InlineData("""{"type": "Sequence", "processors": [{"type": "Nope"}]}""", "post_processor.processors[0].type 'Nope' is not supported")]
    public void MalformedPostProcessorsAreNamedErrors(string postProcessor, string message)
    {
        var error = Assert.Throws<InvalidDataException>(() => WithPostProcessor(Llama, JsonNode.Parse(postProcessor)));
        Assert.Contains(message, error.Message);
    }
}
