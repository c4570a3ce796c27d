using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Quantization;
using static LlmFp4.Kit.Tests.Calibration.CalibrationTestData;

namespace LlmFp4.Kit.Tests.Calibration;

public class GptqTests
{
    [Fact]
    public void Inverse_upper_cholesky_factors_the_inverse()
    {
        const int n = 12;
        var x = RandomMatrix(40, n, 7);
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                for (int t = 0; t < 40; t++) a[i * n + j] += (double)x[t * n + i] * x[t * n + j];
        var u = Gptq.InverseUpperCholesky(a, n);
        // (UᵀU)·A = I.
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int k = 0; k < n; k++)
                {
                    double inverse = 0;
                    for (int m = 0; m < n; m++) inverse += u[m * n + i] * u[m * n + k];
                    sum += inverse * a[k * n + j];
                }
                Assert.Equal(i == j ? 1 : 0, sum, 9);
                if (j < i) Assert.Equal(0, u[i * n + j]);
            }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void With_uncorrelated_inputs_gptq_is_round_to_nearest(bool actOrder)
    {
        const int rows = 6, cols = 10;
        var weight = RandomMatrix(rows, cols, 8);
        var hessian = new double[cols * cols];
        for (int j = 0; j < cols; j++) hessian[j * cols + j] = 1 + j;
        foreach (TensorQuantizer grid in new TensorQuantizer[]
        {
            IntQuantizer.MinMax(IntFormat.Int4, Granularity.PerRow, weight, rows, cols),
            MinMax.ForMatrix(QuantSpec.Fp(4, Granularity.PerGroup(4)), weight, rows, cols),
        })
        {
            var gptq = Gptq.Quantize(weight, rows, cols, hessian, grid, new GptqSettings { ActOrder = actOrder });
            Assert.Equal(grid.Quantize(weight, rows, cols), gptq);
        }
    }

    [Fact]
    public void Dead_inputs_get_zero_weights()
    {
        const int rows = 3, cols = 4;
        var weight = RandomMatrix(rows, cols, 9);
        var hessian = new double[cols * cols];
        hessian[0] = 2;
        hessian[1 * cols + 1] = 1;
        hessian[3 * cols + 3] = 1;
        var grid = IntQuantizer.MinMax(IntFormat.Int8, Granularity.PerRow, weight, rows, cols);
        var result = Gptq.Quantize(weight, rows, cols, hessian, grid, new GptqSettings());
        for (int r = 0; r < rows; r++) Assert.Equal(0f, result[r * cols + 2]);
    }
}
