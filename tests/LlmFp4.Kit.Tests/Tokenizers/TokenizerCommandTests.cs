using LlmFp4.Kit.Models.Tokenizers;

namespace LlmFp4.Kit.Tests.Tokenizers;

[Collection(ProcessWideStateCollection.Name)]
public class TokenizerCommandTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("llmfp4-tokenizer-cli-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void TrainWritesALoadableTokenizer()
    {
        var corpus = Path.Combine(_folder, "corpus.txt");
        File.WriteAllText(corpus, string.Concat(Enumerable.Repeat("the whale and the sea; the ship and the sea.\n", 50)));
        var output = Path.Combine(_folder, "out", "tokenizer.json");

        Assert.Equal(0, CliRunner.Run("tokenizer", "train", "--corpus", corpus, "--vocab", "270", "--out", output).ExitCode);

        var tokenizer = BpeTokenizer.Load(output);
        Assert.Equal(270, tokenizer.VocabSize);
        Assert.Equal(" the sea", tokenizer.Decode(tokenizer.Encode(" the sea")));
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(output)!, "*.tmp"));
    }

    /// <summary>
    /// The case: a LLaMA/Mistral-layout tokenizer.json (TemplateProcessing single = [&lt;s&gt;, $A]) with
    /// tokenizer_config.json add_bos_token = true prints BOS first, as Hugging Face's encode does.
    /// </summary>
    [Fact]
    public void EncodePrintsTheSpecialTokensHuggingFaceAdds()
    {
        string path = Path.Combine(_folder, "tokenizer.json");
        File.Copy(RepositoryFiles.Path("tests/golden/tokenizers/tiny-sentencepiece.json"), path);
        File.WriteAllText(Path.Combine(_folder, TokenizerConfig.FileName),
            """{"add_bos_token": true, "add_eos_token": false, "bos_token": "<s>", "eos_token": "</s>", "tokenizer_class": "LlamaTokenizer"}""");

        var (exit, output) = CliRunner.Run("tokenizer", "encode", "--tokenizer", path, "--text", "Hello, my dog");

        Assert.Equal(0, exit);
        Assert.Equal(string.Join(",", PostProcessorTests.GoldenIds("llama: <s> $A", "Hello, my dog")), output.Split(Environment.NewLine)[0]);
        Assert.StartsWith("1,", output);
    }

    [Fact]
    public void MissingCorpusFailsWithExitCodeOneNamingTheFile()
    {
        string absent = Path.Combine(_folder, "absent.txt");
        var (exit, output) = CliRunner.Run("tokenizer", "train", "--corpus", absent, "--out", Path.Combine(_folder, "t.json"));
        Assert.Equal(1, exit);
        Assert.Equal($"error: Corpus file '{absent}' does not exist.", output.Trim());
    }
}
