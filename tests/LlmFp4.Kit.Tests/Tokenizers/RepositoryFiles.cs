namespace LlmFp4.Kit.Tests.Tokenizers;

/// <summary>Paths of committed files (data/, tests/golden/), found from the test binary's folder upwards.</summary>
internal static class RepositoryFiles
{
    public static readonly string Root = FindRoot();

    public static string Path(string relative) => System.IO.Path.Combine(Root, relative);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "LlmFp4Kit.sln")))
                return dir.FullName;
        throw new DirectoryNotFoundException($"No LlmFp4Kit.sln above {AppContext.BaseDirectory}.");
    }
}
