using System.IO.MemoryMappedFiles;

namespace LlmFp4.Kit.Models.Loading;

/// <summary>
/// A read-only memory map of a whole file. Tensors are read straight from the mapping, so a
/// checkpoint costs no memory until a tensor is converted.
/// </summary>
internal sealed unsafe class MappedFile : IDisposable
{
    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private byte* _start;

    public string Path { get; }
    public long Length { get; }

    private MappedFile(string path, long length, MemoryMappedFile map, MemoryMappedViewAccessor view)
    {
        Path = path;
        Length = length;
        _map = map;
        _view = view;
        byte* pointer = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        _start = pointer + view.PointerOffset;
    }

    public static MappedFile Open(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: file not found.", path);
        // Delete sharing lets a writer replace the file (temp + rename) while it is mapped.
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
        long length = stream.Length;
        if (length == 0) throw new InvalidDataException($"{path}: file is empty.");
        var map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
        try
        {
            return new MappedFile(path, length, map, map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read));
        }
        catch
        {
            map.Dispose();
            throw;
        }
    }

    /// <summary>The bytes <c>[offset, offset + length)</c>; a range outside the file is an error naming it.</summary>
    public ReadOnlySpan<byte> Bytes(long offset, int length)
    {
        ObjectDisposedException.ThrowIf(_start == null, this);
        if (offset < 0 || length < 0 || offset > Length - length)
            throw new InvalidDataException($"{Path}: bytes [{offset}, {offset + length}) lie outside the file ({Length} bytes).");
        return new ReadOnlySpan<byte>(_start + offset, length);
    }

    public void Dispose()
    {
        if (_start == null) return;
        _start = null;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}

/// <summary>Sequential little-endian reads over a <see cref="MappedFile"/>, bounds-checked with clear messages.</summary>
internal sealed class ByteCursor(MappedFile file, long position = 0)
{
    public long Position { get; set; } = position;
    public long Remaining => file.Length - Position;

    public ReadOnlySpan<byte> Take(long count, string what)
    {
        if (count < 0 || count > Remaining || count > int.MaxValue)
            throw new InvalidDataException(
                $"{file.Path}: truncated or corrupt: {what} at byte {Position} needs {count} bytes, {Remaining} remain.");
        var bytes = file.Bytes(Position, (int)count);
        Position += count;
        return bytes;
    }

    public byte U8(string what) => Take(1, what)[0];
    public ushort U16(string what) => BitConverter.ToUInt16(Take(2, what));
    public uint U32(string what) => BitConverter.ToUInt32(Take(4, what));
    public int I32(string what) => BitConverter.ToInt32(Take(4, what));
    public ulong U64(string what) => BitConverter.ToUInt64(Take(8, what));
    public long I64(string what) => BitConverter.ToInt64(Take(8, what));
    public float F32(string what) => BitConverter.ToSingle(Take(4, what));
    public double F64(string what) => BitConverter.ToDouble(Take(8, what));
}
