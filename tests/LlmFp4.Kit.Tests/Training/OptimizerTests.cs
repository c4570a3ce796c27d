using LlmFp4.Kit.Training;

namespace LlmFp4.Kit.Tests.Training;

public class OptimizerTests
{
    [Fact]
    public void AdamWSimdMatchesScalarBitForBit()
    {
        const int n = 1003; // not a multiple of the vector width
        float[] p1 = TinyTraining.RandomValues(n, 1), g = TinyTraining.RandomValues(n, 2, 0.1f);
        float[] m1 = TinyTraining.RandomValues(n, 3, 0.01f), v1 = TinyTraining.RandomValues(n, 4, 0.001f).Select(Math.Abs).ToArray();
        float[] p2 = (float[])p1.Clone(), m2 = (float[])m1.Clone(), v2 = (float[])v1.Clone();
        var c = AdamW.StepConstants.For(3, 1e-3, 0.9, 0.95, 1e-8, 0.1);
        AdamW.Step(p1, g, m1, v1, c);
        AdamW.StepScalar(p2, g, m2, v2, c);
        Assert.Equal(p2, p1);
        Assert.Equal(m2, m1);
        Assert.Equal(v2, v1);
    }

    [Fact]
    public void AdamWFirstStepMovesEachWeightByAboutTheLearningRate()
    {
        // After one step m̂ = g and v̂ = g², so the update is lr·sign(g) (plus the decay lr·wd·p).
        float[] p = [1f, -2f, 0.5f], g = [0.3f, -4f, 1e-3f], m = new float[3], v = new float[3];
        AdamW.Step(p, g, m, v, AdamW.StepConstants.For(1, 0.01, 0.9, 0.95, 1e-8, 0.1));
        Assert.Equal(1f * (1 - 0.001f) - 0.01f, p[0], 1e-6f);
        Assert.Equal(-2f * (1 - 0.001f) + 0.01f, p[1], 1e-6f);
        Assert.Equal(0.5f * (1 - 0.001f) - 0.01f, p[2], 1e-5f);
    }

    [Fact]
    public void ScheduleWarmsUpLinearlyThenDecaysToTheMinimum()
    {
        Assert.Equal(0.25, LearningRateSchedule.At(1, 100, 4, 1.0, 0.1), 12);
        Assert.Equal(1.0, LearningRateSchedule.At(4, 100, 4, 1.0, 0.1), 12);
        Assert.Equal(1.0, LearningRateSchedule.At(5, 100, 4, 1.0, 0.1), 12);
        Assert.Equal(0.1, LearningRateSchedule.At(100, 100, 4, 1.0, 0.1), 12);
        double middle = LearningRateSchedule.At(52, 100, 4, 1.0, 0.1);
        Assert.InRange(middle, 0.5, 0.6);
        for (int step = 5; step < 100; step++)
            Assert.True(LearningRateSchedule.At(step + 1, 100, 4, 1.0, 0.1) <= LearningRateSchedule.At(step, 100, 4, 1.0, 0.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => LearningRateSchedule.At(0, 100, 4, 1.0, 0.1));
    }

    [Fact]
    public void ClippingScalesOnlyGradientsAboveTheLimit()
    {
        float[] g = [3f, 4f];
        Assert.Equal(5.0, GradientClipping.ClipByGlobalNorm(g, 1.0), 12);
        Assert.Equal(1.0, GradientClipping.GlobalNorm(g), 5);
        float[] small = [0.3f, 0.4f];
        GradientClipping.ClipByGlobalNorm(small, 1.0);
        Assert.Equal([0.3f, 0.4f], small);
    }
}
