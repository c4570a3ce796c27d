using System.CommandLine;
using LlmFp4.Kit.Cli;
using LlmFp4.Kit.Cli.Commands;
using LlmFp4.Kit.Models.Tokenizers;

namespace LlmFp4.Kit.Tests.Tokenizers;

public class TokenizerCommandTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("llmfp4-tokenizer-cli-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static int Run(params string[] args)
    {
        var root = new RootCommand { CliApp.VerboseOption };
        root.Subcommands.Add(TokenizerCommand.Create());
        return CliApp.Run(root, args);
    }

    [Fact]
    public void TrainWritesALoadableTokenizer()
    {
        var corpus = Path.Combine(_folder, "corpus.txt");
        File.WriteAllText(corpus, string.Concat(Enumerable.Repeat("the whale and the sea; the ship and the sea.\n", 50)));
        var output = Path.Combine(_folder, "out", "tokenizer.json");

        Assert.Equal(0, Run("tokenizer", "train", "--corpus", corpus, "--vocab", "270", "--out", output));

        var tokenizer = BpeTokenizer.Load(output);
        Assert.Equal(270, tokenizer.VocabSize);
        Assert.Equal(" the sea", tokenizer.Decode(tokenizer.Encode(" the sea")));
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(output)!, "*.tmp"));
    }

    [Fact]
    public void MissingCorpusFailsWithExitCodeOne() =>
        Assert.Equal(1, Run("tokenizer", "train", "--corpus", Path.Combine(_folder, "absent.txt"), "--out", Path.Combine(_folder, "t.json")));
}
