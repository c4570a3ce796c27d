using LlmFp4.Kit.Models.Bert;
using LlmFp4.Kit.Models.Loading;

namespace LlmFp4.Kit.Tests.Models;

/// <summary>
/// all-MiniLM-L6-v2 imported once per test run from the NuGet package the command-line project downloads on restore
/// (into a temporary folder), with the original ONNX graph for the reference runtime.
/// </summary>
public sealed class MiniLmFixture : IDisposable
{
    public MiniLmFixture()
    {
        Folder = Path.Combine(Path.GetTempPath(), "llmfp4-minilm-" + Guid.NewGuid().ToString("N"));
        Import = PretrainedEncoders.Import(PretrainedEncoders.Get("minilm"), Folder);
        Encoder = SentenceEncoder.Load(Folder);
        Onnx = PretrainedEncoders.ReadPackage(PretrainedEncoders.Get("minilm")).Onnx;
        Graph = OnnxModel.Read(Onnx, "model.onnx");
    }

    public string Folder { get; }
    public EncoderImportResult Import { get; }
    public SentenceEncoder Encoder { get; }
    public byte[] Onnx { get; }
    public OnnxModel Graph { get; }

    public void Dispose() => Directory.Delete(Folder, recursive: true);
}

[CollectionDefinition(Name)]
public sealed class MiniLmCollection : ICollectionFixture<MiniLmFixture>
{
    public const string Name = "MiniLM";
}
