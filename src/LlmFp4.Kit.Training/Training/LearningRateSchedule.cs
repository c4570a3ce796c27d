namespace LlmFp4.Kit.Training;

/// <summary>Linear warm-up to the peak, then cosine decay to the minimum at the last step.</summary>
public static class LearningRateSchedule
{
    /// <summary>
    /// Learning rate of update <paramref name="step"/> (1-based) out of <paramref name="totalSteps"/>:
    /// <c>peak·step/warmup</c> during warm-up, then <c>min + (peak − min)·(1 + cos(π·progress))/2</c> where
    /// progress runs from 0 after warm-up to 1 at the last step.
    /// </summary>
    public static double At(int step, int totalSteps, int warmupSteps, double peak, double min)
    {
        if (step < 1 || step > totalSteps)
            throw new ArgumentOutOfRangeException(nameof(step), $"learning-rate schedule: step {step} is outside 1..{totalSteps}.");
        if (step <= warmupSteps) return peak * step / warmupSteps;
        int decaySteps = totalSteps - warmupSteps;
        double progress = decaySteps <= 1 ? 1 : (double)(step - warmupSteps - 1) / (decaySteps - 1);
        return min + (peak - min) * 0.5 * (1 + Math.Cos(Math.PI * progress));
    }

    public static double At(int step, TrainingConfig config) =>
        At(step, config.Steps, config.WarmupSteps, config.PeakLearningRate, config.MinLearningRate);
}
