using System.Collections.Concurrent;

namespace LlmFp4.Kit.Calibration;

/// <summary>
/// The change lists of an <see cref="ActivationSweep"/> kept for the next round of the same group's search. They depend
/// only on the group's inputs and the activation grid, not on the quantized weights a round sweeps against, so a later
/// round finds them here instead of rounding every input again for every candidate (about a quarter of a sweep's time
/// at hidden 256). Candidate 0's lists are not kept: they hold every nonzero value of its U, about half of all entries,
/// and redoing them costs one candidate's rounding. Chunks are kept as they are first swept until the byte budget is
/// spent; the others are listed again each round. What is kept never changes the sweep's results, only its time.
/// </summary>
/// <param name="budgetBytes">Bytes of lists to keep at most: 6 per change (its channel and its new value) and 4 per list.</param>
internal sealed class KeptChanges(long budgetBytes)
{
    /// <summary>
    /// The budget <see cref="FpqSearch"/> gives each input group: the default model's groups fit in 130–330 MB (paper
    /// setting); a 2048-wide group keeps part of its chunks.
    /// </summary>
    public const long DefaultBudgetBytes = 1L << 30;

    /// <summary>
    /// Lists of candidates 1 … count − 1 of one chunk: list (i, t) of the sweep is entries
    /// <c>Starts[(i − 1)·rows + t] … Starts[(i − 1)·rows + t + 1]</c>, each a channel and the new value of U there (the
    /// change itself follows from the previous value; a double would take 8 bytes).
    /// </summary>
    public sealed record Lists(int Candidates, int[] Starts, ushort[] Channels, float[] Units);

    private readonly ConcurrentDictionary<(ActivationGrid Grid, int Chunk), Lists> _chunks = new();
    private long _bytesLeft = budgetBytes;

    /// <summary>Bytes kept at most.</summary>
    public long BudgetBytes { get; } = budgetBytes;

    /// <summary>Bytes kept so far.</summary>
    public long KeptBytes => BudgetBytes - Interlocked.Read(ref _bytesLeft);

    /// <summary>The lists of <paramref name="chunk"/> for the first <paramref name="candidates"/> candidates of <paramref name="grid"/>, if kept.</summary>
    public Lists? Find(ActivationGrid grid, int chunk, int candidates) =>
        _chunks.TryGetValue((grid, chunk), out var lists) && lists.Candidates == candidates ? lists : null;

    /// <summary>Keeps a copy of the lists when the budget has room for them (the budget is shared by every thread).</summary>
    public void Keep(ActivationGrid grid, int chunk, int candidates, int[] starts, ushort[] channels, ReadOnlySpan<float> units)
    {
        long bytes = 4L * starts.Length + 6L * channels.Length;
        if (Interlocked.Add(ref _bytesLeft, -bytes) < 0)
        {
            Interlocked.Add(ref _bytesLeft, bytes);
            return;
        }
        _chunks[(grid, chunk)] = new Lists(candidates, starts, channels, units.ToArray());
    }
}
