namespace LlmFp4.Kit.Models;

/// <summary>
/// Keys and values of the tokens a <see cref="LlamaModel"/> has decoded so far, per layer, after RoPE and after
/// the <c>k_matmul</c> / <c>v_matmul</c> quantizers, as [positions × kvHeads·headDim] rows (grouped-query
/// attention stores only the shared KV heads). Made by <see cref="LlamaModel.CreateCache"/>; filled by
/// <see cref="LlamaModel.Decode"/>.
/// </summary>
public sealed class KvCache
{
    private readonly float[][] _keys, _values;

    internal KvCache(LlamaConfig config, int capacity)
    {
        if (capacity <= 0 || capacity > config.MaxPositionEmbeddings)
            throw new ArgumentOutOfRangeException(nameof(capacity),
                $"KV cache capacity must be 1..{config.MaxPositionEmbeddings} (max_position_embeddings), got {capacity}.");
        Capacity = capacity;
        Width = config.KeyValueHeads * config.HeadDim;
        _keys = new float[config.NumHiddenLayers][];
        _values = new float[config.NumHiddenLayers][];
        for (int layer = 0; layer < config.NumHiddenLayers; layer++)
        {
            _keys[layer] = new float[capacity * Width];
            _values[layer] = new float[capacity * Width];
        }
    }

    /// <summary>Positions the cache can hold; the next token decoded sits at position <see cref="Length"/>.</summary>
    public int Capacity { get; }

    /// <summary>Positions filled so far.</summary>
    public int Length { get; internal set; }

    /// <summary>Values per position and layer: kvHeads · headDim.</summary>
    public int Width { get; }

    /// <summary>Decoder layers the cache holds keys and values for.</summary>
    public int LayerCount => _keys.Length;

    /// <summary>Forgets every position (the buffers are kept).</summary>
    public void Clear() => Length = 0;

    /// <summary>Layer <paramref name="layer"/>'s keys, [Capacity × Width]; rows beyond <see cref="Length"/> are stale.</summary>
    internal float[] Keys(int layer) => _keys[layer];

    /// <summary>Layer <paramref name="layer"/>'s values, [Capacity × Width]; rows beyond <see cref="Length"/> are stale.</summary>
    internal float[] Values(int layer) => _values[layer];
}
