using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Quantization;
using static LlmFp4.Kit.Tests.Calibration.CalibrationTestData;

namespace LlmFp4.Kit.Tests.Calibration;

public class KernelTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(37)]
    [InlineData(1000)]
    [InlineData(300_001)]
    public void Double_sums_agree_with_their_scalar_references(int length)
    {
        var a = RandomMatrix(1, length, 1);
        var b = RandomMatrix(1, length, 2);
        double dot = DoubleSums.DotScalar(a, b), squares = DoubleSums.SumOfSquaredSumsScalar(a, b);
        Assert.Equal(dot, DoubleSums.Dot(a, b), Math.Abs(dot) * 1e-12 + 1e-12);
        Assert.Equal(dot, DoubleSums.DotParallel(a, b), Math.Abs(dot) * 1e-12 + 1e-12);
        Assert.Equal(squares, DoubleSums.SumOfSquaredSums(a, b), squares * 1e-12);
        Assert.Equal(squares, DoubleSums.SumOfSquaredSumsParallel(a, b), squares * 1e-12);
        Assert.Equal(DoubleSums.DotParallel(a, b), DoubleSums.DotParallel(a, b));
    }

    [Fact]
    public void Layer_error_matches_a_double_precision_reference()
    {
        const int tokens = 2100, inFeatures = 12, outFeatures = 5;
        var x = OutlierInputs(tokens, inFeatures, 3);
        var w = RandomMatrix(outFeatures, inFeatures, 4);
        var quantizer = MinMax.ForActivation(QuantSpec.Fp(4, LlmFp4.Kit.Formats.Granularity.PerTensor), x, tokens, inFeatures);
        var quantizedWeight = MinMax.ForMatrix(QuantSpec.Int(4, LlmFp4.Kit.Formats.Granularity.PerRow), w, outFeatures, inFeatures).Quantize(w, outFeatures, inFeatures);
        double reference = DirectMse(x, tokens, inFeatures, w, outFeatures, quantizer, quantizedWeight);
        Assert.Equal(reference, LayerError.Mse(x, tokens, inFeatures, outFeatures, w, quantizedWeight, quantizer), reference * 1e-5);
    }
}
