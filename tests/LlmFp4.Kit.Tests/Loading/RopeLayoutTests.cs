using LlmFp4.Kit.Models.Loading;

namespace LlmFp4.Kit.Tests.Loading;

public class RopeLayoutTests
{
    [Fact]
    public void InterleavingMatchesLlamaCppPermuteOnAHandExample()
    {
        // Two heads of 6 rows, one column. numpy: w.reshape(2, 2, 3, 1).swapaxes(1, 2).reshape(12, 1).
        float[] halfSplit = [0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15];
        float[] expected = [0, 3, 1, 4, 2, 5, 10, 13, 11, 14, 12, 15];
        var interleaved = new float[12];
        RopeLayout.ToInterleaved(halfSplit, heads: 2, columns: 1, interleaved);
        Assert.Equal(expected, interleaved);
        var back = new float[12];
        RopeLayout.FromInterleaved(interleaved, heads: 2, columns: 1, back);
        Assert.Equal(halfSplit, back);
    }

    [Fact]
    public void RowsMoveWholeAcrossColumns()
    {
        var source = Enumerable.Range(0, 4 * 3).Select(i => (float)i).ToArray(); // one head of 4 rows × 3 columns
        var interleaved = new float[source.Length];
        RopeLayout.ToInterleaved(source, heads: 1, columns: 3, interleaved);
        Assert.Equal([0, 1, 2, 6, 7, 8, 3, 4, 5, 9, 10, 11], interleaved);
    }

    [Fact]
    public void OddHeadDimensionIsRejected() =>
        Assert.Throws<ArgumentException>(() => RopeLayout.FromInterleaved(new float[6], heads: 2, columns: 1, new float[6]));
}

public class LlamaTensorLayoutTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ParameterCountMatchesTheTensorList(bool tied)
    {
        var config = TinyCheckpoints.Config(tied);
        Assert.Equal(LlamaTensorLayout.Expected(config).Sum(e => LlamaTensorLayout.ElementCount(e.Shape)), LlamaTensorLayout.ParameterCount(config));
    }

    [Fact]
    public void ExpectedNamesFollowHuggingFace()
    {
        var names = LlamaTensorLayout.Expected(TinyCheckpoints.Config()).Select(e => e.Name).ToList();
        Assert.Equal(2 + 2 * 9 + 1, names.Count);
        Assert.Equal("model.embed_tokens.weight", names[0]);
        Assert.Contains("model.layers.1.post_attention_layernorm.weight", names);
        Assert.Equal("lm_head.weight", names[^1]);
    }
}
