using LlmFp4.Kit.Training;

namespace LlmFp4.Kit.Tests.Training;

[Collection(ProcessWideStateCollection.Name)]
public class TrainCommandTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "llmfp4-train-cli-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_folder)) Directory.Delete(_folder, recursive: true);
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "LlmFp4Kit.sln"))) return dir.FullName;
        throw new InvalidOperationException("repository root (LlmFp4Kit.sln) not found above the test binaries.");
    }

    private static string Text(int seed, int sentences)
    {
        string[] subjects = ["The whale", "Elizabeth", "The captain", "The people", "Congress"];
        string[] verbs = ["saw", "loved", "feared", "asked", "answered"];
        string[] objects = ["the sea.", "her sister.", "the nation.", "the LORD.", "a letter."];
        var random = new Random(seed);
        return string.Join(" ", Enumerable.Range(0, sentences).Select(_ =>
            $"{subjects[random.Next(5)]} {verbs[random.Next(5)]} {objects[random.Next(5)]}"));
    }

    [Fact]
    public void QuickRecipeOnTinyTextWritesAModelFolderWithACard()
    {
        Directory.CreateDirectory(_folder);
        var paths = new Dictionary<string, string>();
        foreach (var (split, seed, sentences) in new[] { ("train", 1, 2000), ("validation", 2, 200), ("test", 3, 200) })
        {
            paths[split] = Path.Combine(_folder, split + ".txt");
            File.WriteAllText(paths[split], Text(seed, sentences));
        }
        var config = TrainingConfig.Quick with
        {
            TrainText = paths["train"],
            ValidationText = paths["validation"],
            TestText = paths["test"],
            Tokenizer = Path.Combine(RepositoryRoot(), "data", "tokenizer", "tokenizer.json"),
            CacheDirectory = Path.Combine(_folder, "cache"),
        };
        string configPath = Path.Combine(_folder, "quick.json"), output = Path.Combine(_folder, "model");
        File.WriteAllText(configPath, config.ToJson());

        Assert.Equal(0, CliRunner.Run("train", "--config", configPath, "--out", output).ExitCode);
        foreach (string file in new[] { "config.json", "model.safetensors", "tokenizer.json", "MODEL_CARD.md", TrainingSession.LogFile, TrainingSession.CheckpointFile })
            Assert.True(File.Exists(Path.Combine(output, file)), $"{file} missing");
        string card = File.ReadAllText(Path.Combine(output, "MODEL_CARD.md"));
        Assert.Contains("| test |", card);
        Assert.Contains("unigram", card);
        Assert.Equal(config.Steps + 1, File.ReadAllLines(Path.Combine(output, TrainingSession.LogFile)).Length);
    }

    [Fact]
    public void ConfigAndQuickTogetherAreRejected()
    {
        var (exit, output) = CliRunner.Run("train", "--quick", "--config", "x.json", "--out", _folder);
        Assert.Equal(1, exit);
        Assert.Equal("error: train: give either --config or --quick, not both.", output.Trim());
    }
}
