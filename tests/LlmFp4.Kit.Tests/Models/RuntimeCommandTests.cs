using System.Globalization;
using System.Text.Json;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Loading;
using LlmFp4.Kit.Models.Tokenizers;

namespace LlmFp4.Kit.Tests.Models;

/// <summary>`llmfp4 info`, `generate` and `logprobs` on a small random model written to a temporary folder.</summary>
[Collection(ProcessWideStateCollection.Name)]
public sealed class RuntimeCommandTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("llmfp4-runtime-cli-").FullName;
    private readonly LlamaModel _model;
    private readonly BpeTokenizer _tokenizer;

    public RuntimeCommandTests()
    {
        string json = BpeTrainer.Train([string.Concat(Enumerable.Repeat("the whale and the sea; the ship and the sea.\n", 20))],
            new BpeTrainerSettings(VocabSize: 280));
        File.WriteAllText(Path.Combine(_folder, "tokenizer.json"), json);
        _tokenizer = BpeTokenizer.Parse(json, "tokenizer.json");
        var config = LlamaModelTests.TinyConfig(tied: false) with { VocabSize = _tokenizer.VocabSize, MaxPositionEmbeddings = 64 };
        _model = LlamaModel.CreateRandom(config, seed: 4, std: 0.3f);
        var weights = _model.NamedWeights().ToDictionary(e => e.Name, e => e.Tensor.Data);
        HfCheckpointWriter.Save(_folder, config, weights);
        GgufWriter.SaveLlama(Path.Combine(_folder, "model.gguf"), config, weights);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void InfoNamesTheVersionTheBackendAndTheOptionalPieces()
    {
        var (exit, output) = CliRunner.Run("info");
        Assert.Equal(0, exit);
        foreach (string expected in new[] { KitInfo.Version, "Vector512", "GEMM backend", LlmFp4.Kit.Tensors.Gemm.Backend.Name.Split(' ')[0], "Chromium", "plotly.js" })
            Assert.Contains(expected, output);
    }

    [Fact]
    public void GenerateStreamsTheSeededContinuationFromAFolderOrAGguf()
    {
        const string prompt = "the ship and";
        var (exit, output) = CliRunner.Run("generate", "--model", _folder, "--prompt", prompt, "--max-tokens", "12", "--temperature", "0");
        Assert.Equal(0, exit);
        string greedy = new TextGenerator(_model, _tokenizer).Continue(prompt, GenerationSettings.Greedy(12));
        Assert.Equal(prompt + greedy + Environment.NewLine, output);

        var (ggufExit, fromGguf) = CliRunner.Run("generate", "--model", Path.Combine(_folder, "model.gguf"), "--tokenizer",
            Path.Combine(_folder, "tokenizer.json"), "--prompt", prompt, "--max-tokens", "12", "--temperature", "0");
        Assert.Equal((0, output), (ggufExit, fromGguf));

        // Sampling: the command's text is the library's seeded continuation, and the seed changes it.
        foreach (int seed in new[] { 3, 4 })
        {
            var (sampledExit, sampled) = CliRunner.Run("generate", "--model", _folder, "--prompt", prompt, "--max-tokens", "20",
                "--temperature", "1.2", "--top-k", "50", "--seed", seed.ToString(CultureInfo.InvariantCulture));
            Assert.Equal(0, sampledExit);
            Assert.Equal(prompt + Sampled(prompt, seed) + Environment.NewLine, sampled);
        }
        Assert.NotEqual(Sampled(prompt, 3), Sampled(prompt, 4));
        Assert.NotEqual(new TextGenerator(_model, _tokenizer).Continue(prompt, GenerationSettings.Greedy(20)), Sampled(prompt, 3));
    }

    private string Sampled(string prompt, int seed) => new TextGenerator(_model, _tokenizer).Continue(prompt,
        new GenerationSettings { MaxNewTokens = 20, Temperature = 1.2, TopK = 50, Seed = seed });

    [Fact]
    public void LogprobsJsonHasEveryNextTokenMeanNllAndPerplexity()
    {
        const string text = "the whale and the ship";
        var (exit, output) = CliRunner.Run("logprobs", "--model", _folder, "--text", text, "--json");
        Assert.Equal(0, exit);
        int[] ids = _tokenizer.Encode(text);
        float[] expected = _model.TokenLogProbs([ids])[0];
        using var document = JsonDocument.Parse(output);
        var root = document.RootElement;
        var positions = root.GetProperty("positions").EnumerateArray().ToArray();
        Assert.Equal(ids.Length - 1, positions.Length);
        for (int i = 0; i < positions.Length; i++)
        {
            Assert.Equal(i + 1, positions[i].GetProperty("position").GetInt32());
            Assert.Equal(ids[i + 1], positions[i].GetProperty("id").GetInt32());
            Assert.Equal(_tokenizer.Decode([ids[i + 1]]), positions[i].GetProperty("token").GetString());
            Assert.Equal(expected[i], positions[i].GetProperty("log_prob").GetSingle());
        }
        double meanNll = -expected.Average(v => (double)v);
        Assert.Equal(meanNll, root.GetProperty("mean_nll").GetDouble(), 1e-9);
        Assert.Equal(Math.Exp(meanNll), root.GetProperty("perplexity").GetDouble(), 1e-9);

        var (idsExit, table) = CliRunner.Run("logprobs", "--model", _folder, "--token-ids", string.Join(",", ids));
        Assert.Equal(0, idsExit);
        Assert.Contains($"{ids.Length - 1} predicted tokens: mean NLL {meanNll:F4} nats", table);
    }

    [Theory]
    [InlineData("--text", "the sea", "--token-ids", "1,2")]
    [InlineData("--json")]
    public void LogprobsNeedsExactlyOneOfTextAndTokenIds(params string[] arguments)
    {
        var (exit, output) = CliRunner.Run(["logprobs", "--model", _folder, .. arguments]);
        Assert.Equal(1, exit);
        Assert.Equal("error: logprobs: give exactly one of --text and --token-ids.", output.Trim());
    }

    [Fact]
    public void LogprobsNamesABadTokenId()
    {
        var (exit, output) = CliRunner.Run("logprobs", "--model", _folder, "--token-ids", "1,x,3");
        Assert.Equal(1, exit);
        Assert.Contains("'x' is not a token id", output);
    }
}
