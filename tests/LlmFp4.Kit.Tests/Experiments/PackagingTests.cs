using LlmFp4.Kit.Notebooks;
using LlmFp4.Kit.Tests.Tokenizers;

namespace LlmFp4.Kit.Tests.Experiments;

/// <summary>The notebooks ask for the kit package that scripts/pack.sh writes: same feed folder, same version.</summary>
public class PackagingTests
{
    private const string Feed = "artifacts/packages";

    [Fact]
    public void Every_notebook_names_the_packed_feed_and_version()
    {
        Assert.Contains($"feed={Feed}", File.ReadAllText(RepositoryFiles.Path("scripts/pack.sh")));
        var notebooks = Directory.GetFiles(RepositoryFiles.Path("notebooks"), "*.ipynb");
        Assert.NotEmpty(notebooks);
        foreach (string path in notebooks)
        {
            var directives = Notebook.Load(path).Cells.Where(c => c.IsCode).SelectMany(c => NotebookDirectives.Parse(c.Source).Directives).ToList();
            var source = Assert.Single(directives, d => d.Kind == DirectiveKind.PackageSource);
            Assert.Equal(Path.GetFullPath(RepositoryFiles.Path(Feed)), Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, source.Value)));
            Assert.Equal(KitInfo.Version, Assert.Single(directives, d => d.Kind == DirectiveKind.KitPackage).Value);
        }
    }
}
