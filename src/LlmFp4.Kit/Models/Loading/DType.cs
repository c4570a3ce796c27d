using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace LlmFp4.Kit.Models.Loading;

/// <summary>Element types a checkpoint tensor may be stored in.</summary>
public enum DType
{
    /// <summary>IEEE float32 (safetensors "F32", GGUF F32).</summary>
    F32,
    /// <summary>IEEE binary16 (safetensors "F16", GGUF F16).</summary>
    F16,
    /// <summary>bfloat16: the high 16 bits of a float32.</summary>
    BF16,
}

/// <summary>
/// Sizes, names and exact conversions between stored elements and float32. Stored bytes are
/// little-endian, as in every supported file format; .NET hosts are little-endian.
/// </summary>
public static class DTypes
{
    /// <summary>Bytes per element: 4 for F32, 2 for F16 and BF16.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value outside the enum.</exception>
    public static int ByteSize(this DType dtype) => dtype switch
    {
        DType.F32 => 4,
        DType.F16 or DType.BF16 => 2,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    /// <summary>The <c>torch_dtype</c> spelling used in a Hugging Face <c>config.json</c>.</summary>
    public static string TorchName(this DType dtype) => dtype switch
    {
        DType.F32 => "float32",
        DType.F16 => "float16",
        DType.BF16 => "bfloat16",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    /// <summary>
    /// Widens little-endian stored elements to float32: <c>destination[i] = value of element i</c>.
    /// Every F16 and BF16 value (NaN payloads and subnormals included) is representable in float32,
    /// so the conversion is exact. <paramref name="source"/> must hold exactly
    /// <c>destination.Length * dtype.ByteSize()</c> bytes.
    /// </summary>
    public static void ToFloat32(ReadOnlySpan<byte> source, DType dtype, Span<float> destination)
    {
        if (source.Length != (long)destination.Length * dtype.ByteSize())
            throw new ArgumentException($"{source.Length} bytes of {dtype} do not fill {destination.Length} floats.");
        switch (dtype)
        {
            case DType.F32:
                MemoryMarshal.Cast<byte, float>(source).CopyTo(destination);
                break;
            case DType.F16:
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(source), destination);
                break;
            case DType.BF16:
                Bf16ToFloat32(MemoryMarshal.Cast<byte, ushort>(source), destination);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null);
        }
    }

    /// <summary>
    /// Narrows float32 values to little-endian stored elements. F16 and BF16 round to nearest, ties to
    /// even; values beyond the F16 range become ±infinity; NaN stays NaN (BF16 keeps the sign and the
    /// high payload bits and sets the quiet bit). <paramref name="destination"/> must hold exactly
    /// <c>source.Length * dtype.ByteSize()</c> bytes.
    /// </summary>
    public static void FromFloat32(ReadOnlySpan<float> source, DType dtype, Span<byte> destination)
    {
        if (destination.Length != (long)source.Length * dtype.ByteSize())
            throw new ArgumentException($"{destination.Length} bytes of {dtype} do not hold {source.Length} floats.");
        switch (dtype)
        {
            case DType.F32:
                MemoryMarshal.AsBytes(source).CopyTo(destination);
                break;
            case DType.F16:
                TensorPrimitives.ConvertToHalf(source, MemoryMarshal.Cast<byte, Half>(destination));
                break;
            case DType.BF16:
                var bits = MemoryMarshal.Cast<byte, ushort>(destination);
                for (int i = 0; i < source.Length; i++) bits[i] = Float32ToBf16(source[i]);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null);
        }
    }

    /// <summary>bfloat16 bits to float32: the 16 bits become the high half, the low half is zero (exact).</summary>
    public static void Bf16ToFloat32(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        var bits = MemoryMarshal.Cast<float, uint>(destination[..source.Length]);
        for (int i = 0; i < source.Length; i++) bits[i] = (uint)source[i] << 16;
    }

    /// <summary>float32 to bfloat16 bits, round to nearest, ties to even; NaN stays a quiet NaN.</summary>
    public static ushort Float32ToBf16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x0040);
        uint roundingBias = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + roundingBias) >> 16);
    }
}
