using System.Collections.Concurrent;

namespace LlmFp4.Kit.Calibration;

/// <summary>
/// The change lists of an <see cref="ActivationSweep"/> kept for the next round of the same group's search. They depend
/// only on the group's inputs and the activation grid, not on the quantized weights a round sweeps against, so a later
/// round finds them here instead of rounding every input again for every candidate (about a quarter of a sweep's time
/// at hidden 256). Candidate 0's lists are not kept: they hold every nonzero value of its U, about half of all entries,
/// and redoing them costs one candidate's rounding. Chunks are kept as they are first swept until the byte budget is
/// spent; the others are listed again each round. A grid whose values change too often is not kept at all
/// (<see cref="MaxChangeShare"/>). What is kept never changes the sweep's results, only its time.
/// </summary>
/// <param name="budgetBytes">Bytes of lists to keep at most: 6 per change (its channel and its new value) and 4 per list.</param>
/// <param name="maxChangeShare">Changes per input value and candidate above which a grid is not kept (<see cref="MaxChangeShare"/>).</param>
internal sealed class KeptChanges(long budgetBytes, double maxChangeShare = KeptChanges.MaxChangeShare)
{
    /// <summary>
    /// The budget <see cref="FpqSearch"/> gives each input group: the default model's groups keep 194–331 MB (paper
    /// setting); a 2048-wide group keeps part of its chunks.
    /// </summary>
    public const long DefaultBudgetBytes = 1L << 30;

    /// <summary>
    /// Changes per input value and candidate above which a grid's lists are not kept. Rebuilding a change costs about what
    /// listing it does, so keeping pays only where few values change: 4-bit grids change 0.3–9 % of the values from one
    /// candidate to the next on the default model; 8-bit grids change so many that each group's lists filled the budget
    /// at 2,048 tokens, and keeping them all made a first sweep 38 % slower for a 9 % faster second one
    /// (benchmarks/README.md).
    /// </summary>
    public const double MaxChangeShare = 1.0 / 8;

    /// <summary>
    /// Lists of candidates 1 … count − 1 of one chunk: list (i, t) of the sweep is entries
    /// <c>Starts[(i − 1)·rows + t] … Starts[(i − 1)·rows + t + 1]</c>, each a channel and the new value of U there (the
    /// change itself follows from the previous value; a double would take 8 bytes).
    /// </summary>
    public sealed record Lists(int Candidates, int[] Starts, ushort[] Channels, float[] Units);

    private readonly ConcurrentDictionary<(ActivationGrid Grid, int Chunk), Lists> _chunks = new();
    private readonly ConcurrentDictionary<ActivationGrid, bool> _tooManyChanges = new();
    private long _bytesLeft = budgetBytes;

    /// <summary>Bytes kept at most.</summary>
    public long BudgetBytes { get; } = budgetBytes;

    /// <summary>Bytes kept so far.</summary>
    public long KeptBytes => BudgetBytes - Interlocked.Read(ref _bytesLeft);

    /// <summary>The lists of <paramref name="chunk"/> for the first <paramref name="candidates"/> candidates of <paramref name="grid"/>, if kept.</summary>
    public Lists? Find(ActivationGrid grid, int chunk, int candidates) =>
        _chunks.TryGetValue((grid, chunk), out var lists) && lists.Candidates == candidates ? lists : null;

    /// <summary>Whether lists of <paramref name="grid"/> could still be kept: the budget is not spent and its chunks so far changed few enough values.</summary>
    public bool Wants(ActivationGrid grid) => Interlocked.Read(ref _bytesLeft) > 0 && !_tooManyChanges.ContainsKey(grid);

    /// <summary>
    /// Keeps a copy of the lists of <paramref name="values"/> input values (tokens × inputs) when the budget has room for
    /// them (it is shared by every thread) and they hold at most the share of changes per value and candidate it was made with;
    /// a chunk with more marks its grid as not worth keeping.
    /// </summary>
    public void Keep(ActivationGrid grid, int chunk, int candidates, long values, int[] starts, ushort[] channels, ReadOnlySpan<float> units)
    {
        if (channels.Length > maxChangeShare * values * (candidates - 1))
        {
            _tooManyChanges[grid] = true;
            return;
        }
        long bytes = 4L * starts.Length + 6L * channels.Length;
        if (Interlocked.Add(ref _bytesLeft, -bytes) < 0)
        {
            Interlocked.Add(ref _bytesLeft, bytes);
            return;
        }
        _chunks[(grid, chunk)] = new Lists(candidates, starts, channels, units.ToArray());
    }
}
