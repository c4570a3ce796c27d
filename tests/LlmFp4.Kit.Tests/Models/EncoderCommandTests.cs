using System.Text.Json;
using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Models.Bert;
using LlmFp4.Kit.Models.Tokenizers;

namespace LlmFp4.Kit.Tests.Models;

/// <summary>`llmfp4 embed`, `retrieval` and `models` on a small random BERT with a toy vocabulary in a temporary folder.</summary>
[Collection(ProcessWideStateCollection.Name)]
public sealed class EncoderCommandTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("llmfp4-encoder-cli-").FullName;

    public EncoderCommandTests()
    {
        string[] vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "in", "the", "beginning", "god", "created", "heaven", "and", "earth", ".", ",",
            "##s", "light", "was", "good", "let", "there", "be", "said"];
        var config = BertModelTests.Tiny with { VocabSize = vocab.Length };
        var model = BertModel.CreateRandom(config, seed: 6, std: 0.3f);
        BertCheckpoint.Save(_folder, config, model.NamedWeights().ToDictionary(w => w.Name, w => w.Tensor.Data));
        File.WriteAllText(Path.Combine(_folder, "tokenizer.json"), WordPieceTokenizer.CreateJson(vocab, lowercase: true, maxLength: 16));
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void EmbedPrintsTheIdsAndTheEmbeddingTheEncoderGives()
    {
        var (exit, output) = CliRunner.Run("embed", "--model", _folder, "--text", "In the beginning God created the heavens.", "--json");
        Assert.Equal(0, exit);
        using var json = JsonDocument.Parse(output);
        var text = json.RootElement.GetProperty("texts")[0];
        Assert.Equal([2, 5, 6, 7, 8, 9, 6, 10, 15, 13, 3], text.GetProperty("token_ids").EnumerateArray().Select(e => e.GetInt32()));
        float[] embedding = text.GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        Assert.Equal(SentenceEncoder.Load(_folder).Encode(["In the beginning God created the heavens."])[0], embedding);
        Assert.Equal("mean", json.RootElement.GetProperty("pooling").GetString());

        var (badExit, badOutput) = CliRunner.Run("embed", "--model", _folder);
        Assert.Equal(1, badExit);
        Assert.Contains("exactly one of --text and --file", badOutput);
    }

    [Fact]
    public void RetrievalScoresAPairsFile()
    {
        string pairs = Path.Combine(_folder, "pairs.jsonl"), results = Path.Combine(_folder, "results.jsonl");
        File.WriteAllLines(pairs,
        [
            """{"id": "Genesis 1:1", "kjv": "In the beginning God created the heaven and the earth.", "web": "In the beginning, God created the heavens and the earth."}""",
            """{"id": "Genesis 1:3", "kjv": "And God said, Let there be light.", "web": "God said, let there be light."}""",
            """{"id": "Genesis 1:4", "kjv": "And God saw the light, that it was good.", "web": "God saw the light, and saw that it was good."}""",
        ]);
        var (exit, output) = CliRunner.Run("retrieval", "--model", _folder, "--task", pairs, "--out", results);
        Assert.Equal(0, exit);
        Assert.Contains("recall@1", output);
        Assert.Equal(["recall@1", "recall@10", "mrr"], File.ReadAllLines(results).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("metric").GetString()));
    }

    [Fact]
    public void CalibrateEmbedAndRetrievalQuantizeTheEncoder()
    {
        string sentences = Path.Combine(_folder, "calibration.txt"), calibrated = Path.Combine(_folder, "int4");
        File.WriteAllLines(sentences, ["Let there be light.", "God saw the light, and it was good.", "In the beginning was the earth.",
            "And God said, let there be heaven.", "the light and the earth."]);
        var (exit, output) = CliRunner.Run("calibrate", "--model", _folder, "--config", "minmax-int:4/4/4", "--calib-size", "4", "--train-text", sentences,
            "--out", calibrated);
        Assert.True(exit == 0, output);
        Assert.Contains("encoder.layer.1.output.dense", output);
        Assert.True(File.Exists(Path.Combine(calibrated, CalibrationResult.JsonFile)));

        const string text = "In the beginning God created the heavens.";
        float[] Embedding(params string[] extra)
        {
            var (code, json) = CliRunner.Run(["embed", "--model", _folder, "--text", text, "--json", .. extra]);
            Assert.True(code == 0, json);
            using var document = JsonDocument.Parse(json);
            return [.. document.RootElement.GetProperty("texts")[0].GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle())];
        }
        float[] full = Embedding(), quantized = Embedding("--quant", calibrated);
        Assert.NotEqual(full, quantized);
        double cosine = full.Zip(quantized, (a, b) => (double)a * b).Sum();
        Assert.InRange(cosine, 0.5, 0.99999);

        string pairs = Path.Combine(_folder, "pairs.jsonl"), results = Path.Combine(_folder, "quantized.jsonl");
        File.WriteAllLines(pairs,
        [
            """{"id": "Genesis 1:3", "kjv": "And God said, Let there be light.", "web": "God said, let there be light."}""",
            """{"id": "Genesis 1:4", "kjv": "And God saw the light, that it was good.", "web": "God saw the light, and saw that it was good."}""",
        ]);
        var (retrievalExit, retrievalOutput) = CliRunner.Run("retrieval", "--model", _folder, "--task", pairs, "--quant", calibrated, "--out", results);
        Assert.True(retrievalExit == 0, retrievalOutput);
        Assert.All(File.ReadAllLines(results), line => Assert.StartsWith("minmax-int", JsonDocument.Parse(line).RootElement.GetProperty("quantConfig").GetString()));
    }

    [Fact]
    public void ModelsImportNamesAMissingPackage()
    {
        var (exit, output) = CliRunner.Run("models", "import", "minilm", "--out", Path.Combine(_folder, "minilm"), "--package", Path.Combine(_folder, "missing.nupkg"));
        Assert.Equal(1, exit);
        Assert.Contains("missing.nupkg: no such package file", output);
        Assert.False(Directory.Exists(Path.Combine(_folder, "minilm")));
    }
}
