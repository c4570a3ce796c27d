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

    [Fact]
    public void MissingCorpusFailsWithExitCodeOneNamingTheFile()
    {
        string absent = Path.Combine(_folder, "absent.txt");
        var (exit, output) = CliRunner.Run("tokenizer", "train", "--corpus", absent, "--out", Path.Combine(_folder, "t.json"));
        Assert.Equal(1, exit);
        Assert.Equal($"error: Corpus file '{absent}' does not exist.", output.Trim());
    }
}
