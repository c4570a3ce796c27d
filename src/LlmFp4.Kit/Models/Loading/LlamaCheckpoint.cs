using System.Buffers;
using System.Runtime.InteropServices;

namespace LlmFp4.Kit.Models.Loading;

/// <summary>File formats <see cref="CheckpointLoader"/> reads.</summary>
public enum CheckpointFormat
{
    /// <summary>A folder with <c>config.json</c> and safetensors weights.</summary>
    HuggingFace,
    /// <summary>A GGUF file with <c>general.architecture = llama</c> (llama.cpp).</summary>
    Gguf,
    /// <summary>karpathy/llama2.c <c>run.c</c> checkpoint (legacy version-0 export).</summary>
    Llama2c,
}

/// <summary>Where one tensor lies in a checkpoint file, under its Hugging Face name.</summary>
public sealed class CheckpointTensor
{
    /// <summary>Hugging Face name, e.g. <c>model.layers.0.self_attn.q_proj.weight</c>.</summary>
    public required string Name { get; init; }
    /// <summary>Name inside the file (<c>blk.0.attn_q.weight</c> in GGUF); equal to <see cref="Name"/> for safetensors.</summary>
    public required string StoredName { get; init; }
    /// <summary>Row-major shape in Hugging Face order (<c>[out, in]</c> for linear weights).</summary>
    public required int[] Shape { get; init; }
    /// <summary>How the elements are stored in the file.</summary>
    public required DType DType { get; init; }
    /// <summary>Path of the file holding the tensor.</summary>
    public required string File { get; init; }
    /// <summary>Absolute byte offset of the first element in <see cref="File"/>.</summary>
    public required long Offset { get; init; }
    /// <summary>Stored size in bytes: <see cref="ElementCount"/> · the dtype's size.</summary>
    public long ByteLength => ElementCount * DType.ByteSize();
    /// <summary>Number of elements, the product of <see cref="Shape"/>.</summary>
    public long ElementCount => LlamaTensorLayout.ElementCount(Shape);
    /// <summary>
    /// Heads whose rows are stored in adjacent-pair RoPE order (GGUF and llama2.c q/k projections),
    /// 0 when rows are already in Hugging Face order. Reading restores Hugging Face order (<see cref="RopeLayout"/>).
    /// </summary>
    public int InterleavedRopeHeads { get; init; }

    internal MappedFile Mapped { get; init; } = null!;
}

/// <summary>
/// A LLaMA checkpoint opened for reading: its config and a directory of tensors that stay
/// memory-mapped in their file dtype until read. Reads convert to float32 exactly and return
/// Hugging Face conventions whatever the file format.
/// </summary>
public sealed class LlamaCheckpoint : IDisposable
{
    private const int ChunkElements = 1 << 20;
    private readonly IReadOnlyList<MappedFile> _files;
    private readonly Dictionary<string, CheckpointTensor> _tensors = [];
    private bool _disposed;

    /// <summary>The model config the checkpoint carries (config.json, GGUF metadata or the llama2.c header).</summary>
    public LlamaConfig Config { get; }
    /// <summary>The folder or file the checkpoint was opened from.</summary>
    public string Source { get; }
    /// <summary>Which file format the checkpoint was read from.</summary>
    public CheckpointFormat Format { get; }
    /// <summary>Every tensor the config calls for (see <see cref="LlamaTensorLayout.Expected"/>), by Hugging Face name.</summary>
    public IReadOnlyDictionary<string, CheckpointTensor> Tensors => _tensors;

    /// <summary>
    /// Checks every expected tensor is present with the right shape. <paramref name="whereExpected"/>
    /// says, for a Hugging Face name, where the tensor was looked for (for the missing-tensor message).
    /// Takes ownership of <paramref name="files"/>, disposing them when a check fails.
    /// </summary>
    internal LlamaCheckpoint(LlamaConfig config, string source, CheckpointFormat format, IReadOnlyList<MappedFile> files,
        IReadOnlyDictionary<string, CheckpointTensor> found, Func<string, string> whereExpected)
    {
        Config = config;
        Source = source;
        Format = format;
        _files = files;
        try
        {
            CheckAndAdd(found, whereExpected);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    private void CheckAndAdd(IReadOnlyDictionary<string, CheckpointTensor> found, Func<string, string> whereExpected)
    {
        foreach (var (name, shape) in LlamaTensorLayout.Expected(Config))
        {
            if (!found.TryGetValue(name, out var tensor))
                throw new InvalidDataException($"{Source}: missing tensor {name}: {whereExpected(name)}.");
            if (!tensor.Shape.AsSpan().SequenceEqual(shape))
                throw new InvalidDataException(
                    $"{tensor.File}: tensor {tensor.StoredName} has shape {LlamaTensorLayout.FormatShape(tensor.Shape)}, " +
                    $"expected {LlamaTensorLayout.FormatShape(shape)} from the config.");
            if (tensor.Offset < 0 || tensor.Offset > tensor.Mapped.Length - tensor.ByteLength)
                throw new InvalidDataException(
                    $"{tensor.File}: tensor {tensor.StoredName} needs bytes [{tensor.Offset}, {tensor.Offset + tensor.ByteLength}) " +
                    $"but the file has {tensor.Mapped.Length} bytes (truncated?).");
            _tensors.Add(name, tensor);
        }
    }

    /// <summary>Tensor <paramref name="name"/> (a Hugging Face name) converted to float32 in a new array, row-major in Hugging Face order.</summary>
    /// <exception cref="KeyNotFoundException">No such tensor.</exception>
    /// <exception cref="InvalidOperationException">More elements than one array holds.</exception>
    /// <exception cref="ObjectDisposedException">The checkpoint was disposed.</exception>
    public float[] ReadFloat32(string name)
    {
        var tensor = Find(name);
        if (tensor.ElementCount > Array.MaxLength)
            throw new InvalidOperationException($"{tensor.File}: tensor {tensor.StoredName} has {tensor.ElementCount} elements, too many for one array.");
        var values = GC.AllocateUninitializedArray<float>((int)tensor.ElementCount);
        ReadFloat32(name, values);
        return values;
    }

    /// <summary>Converts tensor <paramref name="name"/> to float32 into <paramref name="destination"/>, which must fit it exactly.</summary>
    public void ReadFloat32(string name, Span<float> destination)
    {
        var tensor = Find(name);
        if (destination.Length != tensor.ElementCount)
            throw new ArgumentException(
                $"tensor {name} has {tensor.ElementCount} elements, destination has {destination.Length}.", nameof(destination));
        if (tensor.InterleavedRopeHeads == 0)
        {
            Convert(tensor, destination);
            return;
        }
        var stored = ArrayPool<float>.Shared.Rent(destination.Length);
        try
        {
            var span = stored.AsSpan(0, destination.Length);
            Convert(tensor, span);
            RopeLayout.FromInterleaved(span, tensor.InterleavedRopeHeads, tensor.Shape[^1], destination);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(stored);
        }
    }

    /// <summary>
    /// Tensor <paramref name="name"/>'s binary16 values where they lie in the mapped file (valid while the checkpoint is
    /// open), or null when it is not stored as F16 in Hugging Face order (another dtype, rows the loader permutes, or more
    /// bytes than one span holds).
    /// </summary>
    internal LinearLayer.HalfWeightView? HalfView(string name)
    {
        var tensor = Find(name);
        if (tensor.DType != DType.F16 || tensor.InterleavedRopeHeads != 0 || tensor.ByteLength > int.MaxValue) return null;
        return () =>
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return MemoryMarshal.Cast<byte, Half>(tensor.Mapped.Bytes(tensor.Offset, (int)tensor.ByteLength));
        };
    }

    /// <summary>All tensors as float32, by Hugging Face name, in <see cref="LlamaTensorLayout.Expected"/> order.</summary>
    public IReadOnlyDictionary<string, float[]> ReadAllFloat32(IProgress<(int Done, int Total)>? progress = null)
    {
        var all = new Dictionary<string, float[]>(_tensors.Count);
        foreach (var name in _tensors.Keys)
        {
            all.Add(name, ReadFloat32(name));
            progress?.Report((all.Count, _tensors.Count));
        }
        return all;
    }

    private CheckpointTensor Find(string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _tensors.TryGetValue(name, out var tensor)
            ? tensor
            : throw new KeyNotFoundException($"{Source}: no tensor {name} in this checkpoint.");
    }

    private static void Convert(CheckpointTensor tensor, Span<float> destination)
    {
        int size = tensor.DType.ByteSize();
        for (int start = 0; start < destination.Length; start += ChunkElements)
        {
            int count = Math.Min(ChunkElements, destination.Length - start);
            var bytes = tensor.Mapped.Bytes(tensor.Offset + (long)start * size, count * size);
            DTypes.ToFloat32(bytes, tensor.DType, destination.Slice(start, count));
        }
    }

    /// <summary>Unmaps the checkpoint's files; reading afterwards throws <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        _disposed = true;
        foreach (var file in _files) file.Dispose();
    }
}
