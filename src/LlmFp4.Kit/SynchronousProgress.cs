namespace LlmFp4.Kit;

/// <summary>
/// An <see cref="IProgress{T}"/> that reports on the caller's thread, in order. The framework's
/// <see cref="Progress{T}"/> posts to a synchronization context or the thread pool, so reports can arrive
/// late and out of order, which makes progress bars and logs lag behind the work.
/// </summary>
public sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
{
    /// <summary>Calls the report action with <paramref name="value"/> on the calling thread, before returning.</summary>
    public void Report(T value) => report(value);
}
