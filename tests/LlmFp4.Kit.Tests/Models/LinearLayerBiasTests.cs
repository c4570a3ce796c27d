using LlmFp4.Kit.Models;

namespace LlmFp4.Kit.Tests.Models;

public class LinearLayerBiasTests
{
    [Fact]
    public void A_bias_is_added_to_every_output_row_and_the_observer_sees_it()
    {
        var weight = new float[] { 1, 2, 3, 4, 5, 6 };      // [2 × 3]
        var layer = new LinearLayer("encoder.layer.0.output.dense", 3, 2, weight) { Bias = [0.5f, -1f] };
        float[] input = [1, 0, -1, 2, 1, 0];                 // [2 × 3]
        var output = new float[4];
        var observer = new LastOutput();
        layer.Forward(input, output, 2, new float[6], observer);
        Assert.Equal([1 - 3 + 0.5f, 4 - 6 - 1f, 2 + 2 + 0.5f, 8 + 5 - 1f], output);
        Assert.Equal(output, observer.Output);
        Assert.Equal("encoder.layer.0.output.dense.bias", layer.BiasName);

        layer.Bias = null;
        layer.Forward(input, output, 2, new float[6]);
        Assert.Equal([-2f, -2f, 4f, 13f], output);
        Assert.Contains(layer.BiasName, Assert.Throws<ArgumentException>(() => layer.Bias = new float[3]).Message);
    }

    private sealed class LastOutput : ILinearObserver
    {
        public float[] Output { get; private set; } = [];
        public void Observe(LinearLayer layer, ReadOnlySpan<float> input, ReadOnlySpan<float> output, int rows) => Output = output.ToArray();
    }
}
