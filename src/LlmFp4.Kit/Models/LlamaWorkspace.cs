using System.Collections.Concurrent;

namespace LlmFp4.Kit.Models;

/// <summary>
/// Activation buffers reused across forward calls (fresh memory is slow to touch on these machines).
/// They grow to the largest batch seen and are never shrunk.
/// </summary>
internal sealed class LlamaWorkspace(LlamaConfig config)
{
    private readonly ConcurrentBag<float[]> _probabilityBuffers = new();
    private int _probabilityLength;

    public int TokenCapacity { get; private set; }
    public float[] Residual { get; private set; } = [];
    public float[] Normed { get; private set; } = [];
    public float[] Query { get; private set; } = [];
    public float[] Key { get; private set; } = [];
    public float[] Value { get; private set; } = [];
    public float[] Context { get; private set; } = [];
    public float[] Projection { get; private set; } = [];
    public float[] Gate { get; private set; } = [];
    public float[] Up { get; private set; } = [];
    /// <summary>Copy of a linear input for its quantizer: [tokens × max(hidden, intermediate)].</summary>
    public float[] QuantizerInput { get; private set; } = [];
    /// <summary>Logits for <see cref="LlamaModel.TokenLogProbs"/>; allocated on first use.</summary>
    public float[] Logits { get; private set; } = [];

    public void EnsureTokens(int tokens)
    {
        if (tokens <= TokenCapacity) return;
        int hidden = config.HiddenSize, kv = config.KeyValueHeads * config.HeadDim, inner = config.IntermediateSize;
        Residual = new float[tokens * hidden];
        Normed = new float[tokens * hidden];
        Query = new float[tokens * hidden];
        Key = new float[tokens * kv];
        Value = new float[tokens * kv];
        Context = new float[tokens * hidden];
        Projection = new float[tokens * hidden];
        Gate = new float[tokens * inner];
        Up = new float[tokens * inner];
        QuantizerInput = new float[tokens * Math.Max(hidden, inner)];
        TokenCapacity = tokens;
    }

    public float[] EnsureLogits(int tokens)
    {
        long needed = (long)tokens * config.VocabSize;
        if (needed > Array.MaxLength) throw TooLarge(tokens);
        if (Logits.Length < needed) Logits = new float[needed];
        return Logits;
    }

    /// <summary>A probability buffer of at least <paramref name="length"/> values (queries × keys) for one (sequence, head) of attention.</summary>
    public float[] RentProbabilities(int length)
    {
        if (length > _probabilityLength)
        {
            _probabilityBuffers.Clear();
            _probabilityLength = length;
        }
        return _probabilityBuffers.TryTake(out float[]? buffer) && buffer.Length >= length ? buffer : new float[_probabilityLength];
    }

    public void ReturnProbabilities(float[] buffer)
    {
        if (buffer.Length >= _probabilityLength) _probabilityBuffers.Add(buffer);
    }

    private InvalidOperationException TooLarge(int tokens) =>
        new($"A batch of {tokens} tokens needs more than one array of logits for vocabulary {config.VocabSize}; lower MaxBatchTokens.");
}
