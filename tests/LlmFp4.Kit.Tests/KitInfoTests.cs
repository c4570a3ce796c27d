namespace LlmFp4.Kit.Tests;

public class KitInfoTests
{
    [Fact]
    public void VersionIsStamped() => Assert.Equal("0.1.0", KitInfo.Version);
}
