using LlmFp4.Kit.Formats;

namespace LlmFp4.Kit.Tests.Formats;

public class RealBiasTests
{
    /// <summary>
    /// LLM-FP4's quantizer as its reference code computes it, in float32: clip to ±maxval, p = max(⌊log2|x| + b⌋, 1),
    /// s = 2^(p - m - b) rounded to float32, q = roundHalfEven(x / s)·s with x / s and the product in float32. (For an
    /// integer b, ⌊log2|x| + b⌋ = ⌊log2|x|⌋ + b; the floor taken after adding a real b is what makes the bias a pure scale.)
    /// </summary>
    private static float Reference(float x, int e, int m, double b)
    {
        float maxval = (float)((2 - Math.Pow(2, -m)) * Math.Pow(2, Math.Pow(2, e) - 1 - b));
        float clipped = Math.Clamp(x, -maxval, maxval);
        if (clipped == 0)
            return clipped;
        double p = Math.Max(Math.Floor(Math.Log2(Math.Abs(clipped)) + b), 1);
        float s = (float)Math.Pow(2, p - m - b);
        return MathF.Round(clipped / s, MidpointRounding.ToEven) * s;
    }

    [Fact]
    public void RealBiasesAgreeWithTheReferenceCodesFormula()
    {
        var random = new Random(11);
        for (int trial = 0; trial < 60; trial++)
        {
            int e = random.Next(1, 6), m = random.Next(0, 5);
            double b = random.NextDouble() * 14 - 4;
            var format = FpFormat.Create(e, m, b);
            Assert.Equal((2 - Math.Pow(2, -m)) * Math.Pow(2, Math.Pow(2, e) - 1 - b), format.MaxValue, format.MaxValue * 1e-14);
            for (int i = 0; i < 2000; i++)
            {
                // Magnitudes from 2^-(2^e + 4) below the maximum up to 1.5× above it, both signs.
                double magnitude = format.MaxValue * Math.Pow(2, -random.NextDouble() * (Math.Pow(2, e) + 4)) * (random.Next(8) == 0 ? 1.5 : 1);
                float x = (float)(random.Next(2) == 0 ? magnitude : -magnitude);
                float expected = Reference(x, e, m, b);
                Assert.True(expected == format.Quantize(x), $"{format}: x = {x:R}, reference {expected:R}, kit {format.Quantize(x):R}");
            }
        }
    }

    [Fact]
    public void IntegerBiasesAgreeWithTheFormulaToo()
    {
        var random = new Random(12);
        foreach (var format in new[] { FpFormat.E2M1, FpFormat.E1M2, FpFormat.E3M0, FpFormat.E2M3, FpFormat.E3M2, FpFormat.Create(4, 3, 9) })
            for (int i = 0; i < 5000; i++)
            {
                float x = (float)((random.NextDouble() * 2 - 1) * format.MaxValue * 1.2);
                Assert.Equal(Reference(x, format.ExponentBits, format.MantissaBits, format.Bias), format.Quantize(x));
            }
    }
}
