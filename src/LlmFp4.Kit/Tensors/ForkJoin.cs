using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace LlmFp4.Kit.Tensors;

/// <summary>
/// <c>body(0) … body(count − 1)</c> on the calling thread and up to <c>threads − 1</c> worker threads of the process's
/// own, which spin for <see cref="SpinMicroseconds"/> after each job before they sleep. Decoding runs dozens of products
/// and attentions a token, a few microseconds each, where <see cref="Parallel.For(int, int, Action{int})"/> costs more than
/// it saves: on two Zen 5 cores a 256 × 256 matrix-vector product took 4.5 µs on one thread, 6.2 µs (median) on two
/// through Parallel.For and 3.7 µs here; 256 × 768 took 13.4, 17.9 and 8.7. For jobs of a millisecond the two are the
/// same. Items go to whichever thread asks first, so a body must not depend on the thread it runs on (the kernels own
/// their outputs, so their results do not). A call made while another is running (from another thread, or from inside a
/// body) goes to <see cref="Parallel.For(int, int, ParallelOptions, Action{int})"/>.
/// </summary>
internal sealed class ForkJoin
{
    /// <summary>How long an idle worker spins before it sleeps: longer than the gaps between a decoded token's products.</summary>
    private const int SpinMicroseconds = 50;

    private static readonly Lazy<ForkJoin> Shared = new(() => new ForkJoin(Environment.ProcessorCount - 1));
    private static readonly long SpinTicks = Stopwatch.Frequency * SpinMicroseconds / 1_000_000;

    private readonly Worker[] _workers;
    private Action<int>? _body;
    private int _count, _next, _running, _busy;
    private Exception? _error;

    private ForkJoin(int workers)
    {
        _workers = new Worker[workers];
        for (int w = 0; w < workers; w++)
        {
            var worker = _workers[w] = new Worker();
            new Thread(() => Serve(worker)) { IsBackground = true, Name = $"LlmFp4.Kit fork-join {w + 1}" }.Start();
        }
    }

    /// <summary>Runs every item once and returns when all have finished; rethrows the first exception a body threw.</summary>
    public static void For(int count, int threads, Action<int> body)
    {
        if (threads <= 1 || count <= 1)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        Shared.Value.Run(count, threads, body);
    }

    private void Run(int count, int threads, Action<int> body)
    {
        int helpers = Math.Min(Math.Min(count, threads) - 1, _workers.Length);
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
        {
            try
            {
                Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = threads }, body);
            }
            catch (AggregateException e)
            {
                ExceptionDispatchInfo.Throw(e.InnerExceptions[0]);
            }
            return;
        }
        try
        {
            (_body, _count, _next, _error) = (body, count, 0, null);
            Volatile.Write(ref _running, helpers);
            for (int w = 0; w < helpers; w++) _workers[w].Start();
            Share();
            // Every helper checks out before the call returns, so none can still be reading this job's fields when the next
            // one writes them.
            var spinner = new SpinWait();
            while (Volatile.Read(ref _running) != 0) spinner.SpinOnce(sleep1Threshold: -1);
            if (_error is { } error) ExceptionDispatchInfo.Throw(error);
        }
        finally
        {
            _body = null;
            Volatile.Write(ref _busy, 0);
        }
    }

    private void Share()
    {
        try
        {
            for (int i; (i = Interlocked.Increment(ref _next) - 1) < _count;) _body!(i);
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref _error, e, null);
            Volatile.Write(ref _next, _count);
        }
    }

    private void Serve(Worker worker)
    {
        int seen = 0;
        while (true)
        {
            seen = worker.AwaitJob(seen);
            Share();
            Interlocked.Decrement(ref _running);
        }
    }

    /// <summary>
    /// A helper thread's mailbox: <c>_job</c> counts the jobs it was given. Sleeping is a handshake on <c>_sleeping</c>:
    /// the worker raises the flag and then reads <c>_job</c>, the caller raises <c>_job</c> and then takes the flag, both
    /// with full fences, so either the worker sees the job or the caller sees it asleep and wakes it.
    /// </summary>
    private sealed class Worker
    {
        private int _job, _sleeping;
        private readonly SemaphoreSlim _wake = new(0);

        public void Start()
        {
            Interlocked.Increment(ref _job);
            if (Interlocked.Exchange(ref _sleeping, 0) == 1) _wake.Release();
        }

        /// <summary>Returns the number of the first job after <paramref name="seen"/>, spinning and then sleeping until it comes.</summary>
        public int AwaitJob(int seen)
        {
            long start = Stopwatch.GetTimestamp();
            while (Volatile.Read(ref _job) == seen)
            {
                if (Stopwatch.GetTimestamp() - start < SpinTicks)
                {
                    Thread.SpinWait(8);
                    continue;
                }
                Interlocked.Exchange(ref _sleeping, 1);
                if (Volatile.Read(ref _job) == seen) _wake.Wait();
                // The job came between the two: whoever takes the flag back decides who consumes a wake-up.
                else if (Interlocked.Exchange(ref _sleeping, 0) == 0) _wake.Wait();
            }
            return Volatile.Read(ref _job);
        }
    }
}
