using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Tests.Tensors;

public class TensorTests
{
    [Fact]
    public void RowsAreSlicesOfTheFirstDimension()
    {
        var tensor = new Tensor(Enumerable.Range(0, 24).Select(i => (float)i).ToArray(), 2, 3, 4);
        Assert.Equal(12, tensor.RowLength);
        Assert.Equal(12f, tensor.Row(1)[0]);
        tensor.Row(0)[1] = -1;
        Assert.Equal(-1f, tensor.Data[1]);
        Assert.Throws<ArgumentOutOfRangeException>(() => tensor.Row(2));
    }

    [Fact]
    public void ShapeErrorsNameTheTensor()
    {
        var error = Assert.Throws<ArgumentException>(() => new Tensor(new float[5], 2, 3));
        Assert.Contains("[2, 3] needs 6", error.Message);
        var tensor = new Tensor(4, 8);
        error = Assert.Throws<ArgumentException>(() => tensor.CheckShape("lm_head.weight", 8, 4));
        Assert.Equal("lm_head.weight: expected shape [8, 4], got [4, 8].", error.Message);
    }
}
