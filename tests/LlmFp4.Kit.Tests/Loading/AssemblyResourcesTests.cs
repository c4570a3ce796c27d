using LlmFp4.Kit.Models.Loading;
using LlmFp4.Kit.Tests.Tokenizers;

namespace LlmFp4.Kit.Tests.Loading;

public class AssemblyResourcesTests
{
    // The test project embeds tests/golden/tokenizers/tiny-metaspace.json under this name (see its .csproj).
    private const string Resource = "LlmFp4.Kit.Tests.tiny-metaspace.json";

    [Fact]
    public void ReadsAnEmbeddedResourceFromTheAssemblyFileWithoutLoadingIt()
    {
        using var assembly = File.OpenRead(typeof(AssemblyResourcesTests).Assembly.Location);
        byte[] bytes = AssemblyResources.Read(assembly, Resource, "tests.dll");
        Assert.Equal(File.ReadAllBytes(RepositoryFiles.Path("tests/golden/tokenizers/tiny-metaspace.json")), bytes);
    }

    [Fact]
    public void AMissingResourceOrAFileThatIsNoAssemblyIsAnError()
    {
        using var assembly = File.OpenRead(typeof(AssemblyResourcesTests).Assembly.Location);
        var missing = Assert.Throws<InvalidDataException>(() => AssemblyResources.Read(assembly, "model.onnx", "tests.dll"));
        Assert.Contains("no embedded resource 'model.onnx'", missing.Message);
        Assert.Contains(Resource, missing.Message);
        Assert.Contains("not.dll", Assert.Throws<InvalidDataException>(() =>
            AssemblyResources.Read(new MemoryStream(new byte[4096]), "model.onnx", "not.dll")).Message);
    }
}
