using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Tests.Tensors;

public class ForkJoinTests
{
    /// <summary>Runs <paramref name="action"/> on the thread pool and fails instead of hanging when it does not finish.</summary>
    private static void Finishes(Action action)
    {
        var run = Task.Run(action);
        Assert.True(run.Wait(TimeSpan.FromSeconds(60)), "ForkJoin did not return within 60 s.");
    }

    [Theory]
    [InlineData(2, 2)]
    [InlineData(3, 2)]
    [InlineData(17, 4)]
    [InlineData(1000, 2)]
    [InlineData(5, 64)]
    public void EveryItemRunsExactlyOnce(int count, int threads) => Finishes(() =>
    {
        for (int call = 0; call < 300; call++)
        {
            var hits = new int[count];
            ForkJoin.For(count, threads, i => Interlocked.Increment(ref hits[i]));
            Assert.All(hits, h => Assert.Equal(1, h));
            // Every tenth call waits past the helpers' spin, so they go to sleep and have to be woken.
            if (call % 10 == 9) Thread.Sleep(2);
        }
    });

    /// <summary>A fact reported as skipped on one processor, where ForkJoin has no helper threads.</summary>
    public sealed class SeveralProcessorsFactAttribute : FactAttribute
    {
        public SeveralProcessorsFactAttribute()
        {
            if (Environment.ProcessorCount < 2) Skip = "One processor: the items run on the calling thread alone.";
        }
    }

    [SeveralProcessorsFact]
    public void ItemsRunAtTheSameTimeOnSeveralThreads() => Finishes(() =>
    {
        // Both items wait for each other, which returns only if two threads run them at once.
        using var barrier = new Barrier(2);
        var met = new bool[2];
        ForkJoin.For(2, 2, i => met[i] = barrier.SignalAndWait(TimeSpan.FromSeconds(20)));
        Assert.Equal([true, true], met);
    });

    [Fact]
    public void AnExceptionReachesTheCallerAndTheNextCallStillRuns() => Finishes(() =>
    {
        var error = Assert.Throws<InvalidOperationException>(() =>
            ForkJoin.For(64, 2, i => { if (i == 5) throw new InvalidOperationException("item 5"); }));
        Assert.Equal("item 5", error.Message);
        // A call from inside a body goes to Parallel.For, and the caller still sees the body's own exception.
        var nested = Assert.Throws<InvalidOperationException>(() =>
            ForkJoin.For(2, 2, _ => ForkJoin.For(8, 2, i => { if (i == 3) throw new InvalidOperationException("inner item 3"); })));
        Assert.Equal("inner item 3", nested.Message);
        var hits = new int[64];
        ForkJoin.For(64, 2, i => Interlocked.Increment(ref hits[i]));
        Assert.All(hits, h => Assert.Equal(1, h));
    });

    [Fact]
    public void NestedAndConcurrentCallsEachRunEveryItem() => Finishes(() =>
    {
        const int outer = 8, inner = 50;
        var hits = new int[4, outer * inner];
        Parallel.For(0, 4, caller =>
        {
            for (int repeat = 0; repeat < 20; repeat++)
                ForkJoin.For(outer, 2, o => ForkJoin.For(inner, 2, i => Interlocked.Increment(ref hits[caller, o * inner + i])));
        });
        foreach (int h in hits) Assert.Equal(20, h);
    });
}
