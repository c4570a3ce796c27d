using LlmFp4.Kit.Formats;

namespace LlmFp4.Kit.Tests.Formats;

public class BlockScaledFormatTests
{
    [Fact]
    public void Mxfp4UsesThePowerOfTwoScaleOfEachBlock()
    {
        // Row of 72: two full blocks of 32 and a trailing block of 8 with its own scale.
        var x = new float[72];
        x[0] = 7f; x[1] = 1.2f; x[2] = -0.3f; x[3] = 0.25f;          // amax 7: X = 2^(2 - 2) = 1
        x[32] = 0.1f; x[33] = 0.03f; x[34] = -0.1f;                  // amax 0.1: X = 2^(-4 - 2) = 1/64
        x[64] = 3f; x[65] = 0.6f;                                     // amax 3: X = 2^(1 - 2) = 1/2
        var q = new float[x.Length];
        BlockScaledFormat.MXFP4.Quantize(x, 1, 72, q);
        Assert.Equal([6f, 1f, -0.5f, 0f], q[..4]);                    // 7 clamps to 6·X; 0.25 is a tie → 0
        Assert.Equal([6f / 64, 2f / 64, -6f / 64], q[32..35]);
        Assert.Equal([3f, 0.5f], q[64..66]);
        Assert.All(q[4..32], v => Assert.Equal(0f, v));
    }

    [Fact]
    public void MxfpElementsSaturateEvenForE5M2()
    {
        var x = new float[32];
        x[0] = 62000f; // ⌊log2⌋ = 15 = emax(E5M2): X = 1, and 62000 clamps to 57344 instead of overflowing
        x[1] = 1000f;
        var q = new float[32];
        BlockScaledFormat.MXFP8E5M2.Quantize(x, 1, 32, q);
        Assert.Equal(57344f, q[0]);
        Assert.Equal(1024f, q[1]);
        BlockScaledFormat.MXFP8E4M3.Quantize(x, 1, 32, q);   // emax 8: X = 2^7; 62000/128 = 484.4 clamps to 448
        Assert.Equal(448f * 128, q[0]);
        Assert.Equal(MathF.Round(1000f / 128 / 0.5f) * 0.5f * 128, q[1]);
    }

    [Fact]
    public void Mxfp6PresetsUseTheirElementExponents()
    {
        Assert.Equal(4, BlockScaledFormat.MXFP6E3M2.ElementMaxExponent);
        Assert.Equal(2, BlockScaledFormat.MXFP6E2M3.ElementMaxExponent);
        Assert.Equal(8, BlockScaledFormat.MXFP8E4M3.ElementMaxExponent);
        Assert.Equal(15, BlockScaledFormat.MXFP8E5M2.ElementMaxExponent);
        var x = new float[32];
        x[0] = 20f; x[1] = 1.1f;  // E3M2: X = 2^(4 - 4) = 1; 1.1 → 1 (step 0.25 in [1, 2))
        var q = new float[32];
        BlockScaledFormat.MXFP6E3M2.Quantize(x, 1, 32, q);
        Assert.Equal([20f, 1f], q[..2]);
        BlockScaledFormat.MXFP6E2M3.Quantize(x, 1, 32, q); // E2M3: X = 2^(4 - 2) = 4; 1.1/4 = 0.275 → 0.25
        Assert.Equal([20f, 1f], q[..2]);
    }

    [Fact]
    public void NonFiniteBlocksBecomeNanAndZeroBlocksStayZero()
    {
        var x = new float[64];
        x[5] = float.NaN;
        x[40] = -0f;
        var q = new float[64];
        BlockScaledFormat.MXFP4.Quantize(x, 2, 32, q);
        Assert.All(q[..32], v => Assert.True(float.IsNaN(v)));
        Assert.All(q[32..], v => Assert.Equal(0f, v));
        Assert.True(float.IsNegative(q[40]));
        BlockScaledFormat.NVFP4.Quantize(x, 2, 32, q);
        Assert.All(q, v => Assert.True(float.IsNaN(v)));
    }

    [Fact]
    public void Nvfp4CombinesTheE4M3BlockScaleWithTheTensorScale()
    {
        // amax_tensor = 168 → s = 168 / 2688 = 1/16 exactly.
        var x = new float[32];
        x[0] = 168f; x[1] = 50f; x[2] = 14f; x[3] = 21f;     // block 1: E4M3(168/6/s = 448) = 448 → scale 28
        x[16] = 1f; x[17] = 0.3f;                            // block 2: 1/6/s = 2.667 → E4M3 2.75 → scale 0.171875
        var q = new float[32];
        BlockScaledFormat.NVFP4.Quantize(x, 1, 32, q);
        Assert.Equal([168f, 56f, 14f, 28f], q[..4]);         // 50/28 = 1.79 → 2; 21/28 = 0.75 → 1
        Assert.Equal([1.03125f, 0.2578125f], q[16..18]);     // 5.82 → 6; 1.745 → 1.5
        Assert.Equal(4.5, BlockScaledFormat.NVFP4.BitsPerElement);
        Assert.Equal(4.25, BlockScaledFormat.MXFP4.BitsPerElement);
    }

    [Fact]
    public void LargeMatricesGiveTheSameResultInParallel()
    {
        const int rows = 260, cols = 1030;
        var random = new Random(4);
        var x = Enumerable.Range(0, rows * cols).Select(_ => (float)(random.NextDouble() * 2 - 1) * MathF.Exp((float)random.NextDouble() * 6)).ToArray();
        var q = new float[x.Length];
        var row = new float[cols];
        foreach (var format in BlockScaledFormat.Presets.Where(f => f.ScaleKind == BlockScaleKind.PowerOfTwo))
        {
            format.Quantize(x, rows, cols, q);
            for (int r = 0; r < rows; r += 37)
            {
                format.Quantize(x.AsSpan(r * cols, cols), 1, cols, row);
                Assert.Equal(row, q[(r * cols)..((r + 1) * cols)]);
            }
        }
        Assert.Same(BlockScaledFormat.MXFP6E2M3, BlockScaledFormat.Parse("mxfp6-e2m3"));
        Assert.Contains("NVFP4", Assert.Throws<ArgumentException>(() => BlockScaledFormat.Parse("MXFP5")).Message);
    }
}
