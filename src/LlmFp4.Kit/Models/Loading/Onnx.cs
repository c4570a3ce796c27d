using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace LlmFp4.Kit.Models.Loading;

/// <summary>Element types of an ONNX tensor (<c>TensorProto.DataType</c> in onnx.proto). <see cref="OnnxTensor"/> reads FLOAT, FLOAT16, BFLOAT16 and DOUBLE as float32 and INT32 and INT64 as integers.</summary>
public enum OnnxDataType
{
    /// <summary>0: unset.</summary>
    Undefined = 0,
    /// <summary>1: FLOAT, IEEE float32.</summary>
    Float = 1,
    /// <summary>2: UINT8.</summary>
    UInt8 = 2,
    /// <summary>3: INT8.</summary>
    Int8 = 3,
    /// <summary>4: UINT16.</summary>
    UInt16 = 4,
    /// <summary>5: INT16.</summary>
    Int16 = 5,
    /// <summary>6: INT32.</summary>
    Int32 = 6,
    /// <summary>7: INT64.</summary>
    Int64 = 7,
    /// <summary>8: STRING.</summary>
    String = 8,
    /// <summary>9: BOOL, one byte.</summary>
    Bool = 9,
    /// <summary>10: FLOAT16, IEEE binary16.</summary>
    Float16 = 10,
    /// <summary>11: DOUBLE, IEEE float64.</summary>
    Double = 11,
    /// <summary>12: UINT32.</summary>
    UInt32 = 12,
    /// <summary>13: UINT64.</summary>
    UInt64 = 13,
    /// <summary>14: COMPLEX64, two float32.</summary>
    Complex64 = 14,
    /// <summary>15: COMPLEX128, two float64.</summary>
    Complex128 = 15,
    /// <summary>16: BFLOAT16.</summary>
    BFloat16 = 16,
}

/// <summary>
/// A dense ONNX tensor: an initializer, or the value of a Constant node or tensor attribute. <see cref="Data"/> holds the
/// elements little-endian and fixed-width whichever field the file used (<c>raw_data</c> or a typed field such as
/// <c>float_data</c>), a slice of the file's bytes when it was <c>raw_data</c>.
/// </summary>
public sealed record OnnxTensor(string Name, OnnxDataType DataType, long[] Dims, ReadOnlyMemory<byte> Data)
{
    /// <summary>Number of elements, the product of <see cref="Dims"/> (1 for a scalar).</summary>
    public long ElementCount => Dims.Aggregate(1L, (product, dim) => product * dim);

    /// <summary>The elements as float32 (from FLOAT, FLOAT16, BFLOAT16 or DOUBLE), row-major.</summary>
    /// <exception cref="InvalidDataException">Another element type, or a data length that does not match the dims.</exception>
    public float[] ToFloat32()
    {
        var values = new float[CheckLength()];
        var bytes = Data.Span;
        switch (DataType)
        {
            case OnnxDataType.Float: MemoryMarshal.Cast<byte, float>(bytes).CopyTo(values); break;
            case OnnxDataType.Float16: DTypes.ToFloat32(bytes, DType.F16, values); break;
            case OnnxDataType.BFloat16: DTypes.ToFloat32(bytes, DType.BF16, values); break;
            case OnnxDataType.Double:
                for (int i = 0; i < values.Length; i++) values[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(bytes[(8 * i)..]);
                break;
            default: throw new InvalidDataException($"ONNX tensor {Name}: element type {DataType} is not a floating-point type.");
        }
        return values;
    }

    /// <summary>The elements as int64 (from INT64 or INT32), row-major.</summary>
    /// <exception cref="InvalidDataException">Another element type, or a data length that does not match the dims.</exception>
    public long[] ToInt64()
    {
        var values = new long[CheckLength()];
        var bytes = Data.Span;
        for (int i = 0; i < values.Length; i++)
            values[i] = DataType switch
            {
                OnnxDataType.Int64 => BinaryPrimitives.ReadInt64LittleEndian(bytes[(8 * i)..]),
                OnnxDataType.Int32 => BinaryPrimitives.ReadInt32LittleEndian(bytes[(4 * i)..]),
                _ => throw new InvalidDataException($"ONNX tensor {Name}: element type {DataType} is not an integer type."),
            };
        return values;
    }

    private int CheckLength()
    {
        int width = DataType switch
        {
            OnnxDataType.Float or OnnxDataType.Int32 => 4,
            OnnxDataType.Float16 or OnnxDataType.BFloat16 => 2,
            OnnxDataType.Double or OnnxDataType.Int64 => 8,
            _ => throw new InvalidDataException($"ONNX tensor {Name}: element type {DataType} cannot be read as numbers here."),
        };
        if (Dims.Any(dim => dim < 0) || ElementCount > Array.MaxLength || Data.Length != ElementCount * width)
            throw new InvalidDataException(
                $"ONNX tensor {Name}: {Data.Length} bytes of {DataType} do not hold shape [{string.Join(", ", Dims)}].");
        return (int)ElementCount;
    }
}

/// <summary>A node attribute (<c>AttributeProto</c>): the fields the kit reads, by which one the file set.</summary>
public sealed record OnnxAttribute(string Name, float? Float, long? Int, byte[]? String, OnnxTensor? Tensor, float[] Floats, long[] Ints);

/// <summary>A graph node (<c>NodeProto</c>). Inputs and outputs are value names; an empty input name is an omitted optional input.</summary>
public sealed record OnnxNode(string Name, string OpType, string Domain, string[] Inputs, string[] Outputs,
    IReadOnlyDictionary<string, OnnxAttribute> Attributes);

/// <summary>The main graph (<c>GraphProto</c>): nodes in topological order, initializers by name, input and output names.</summary>
public sealed record OnnxGraph(string Name, IReadOnlyList<OnnxNode> Nodes, IReadOnlyDictionary<string, OnnxTensor> Initializers,
    IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs);

/// <summary>
/// The parts of an ONNX <c>ModelProto</c> a converter needs (onnx/onnx.proto: ir_version 1, producer_name 2,
/// producer_version 3, graph 7, opset_import 8), read straight from the protobuf wire format
/// (protobuf.dev/programming-guides/encoding). Fields the kit does not use are skipped; tensors stored outside the
/// file (<c>data_location = EXTERNAL</c>) and sparse initializers are refused.
/// </summary>
public sealed record OnnxModel(long IrVersion, string ProducerName, string ProducerVersion, IReadOnlyDictionary<string, long> Opsets, OnnxGraph Graph)
{
    /// <summary>Parses a model; <paramref name="source"/> names it in error messages. The tensors' data keeps referring to <paramref name="bytes"/>.</summary>
    /// <exception cref="InvalidDataException">Malformed protobuf, a graph missing, or a tensor the reader cannot hold.</exception>
    public static OnnxModel Read(ReadOnlyMemory<byte> bytes, string source)
    {
        try
        {
            long irVersion = 0;
            string producer = "", producerVersion = "";
            var opsets = new Dictionary<string, long>();
            OnnxGraph? graph = null;
            var reader = new ProtoReader(bytes);
            while (reader.Next(out int field, out var wire))
                switch (field)
                {
                    case 1: irVersion = reader.Int64(wire); break;
                    case 2: producer = reader.String(wire); break;
                    case 3: producerVersion = reader.String(wire); break;
                    case 7: graph = ReadGraph(reader.Message(wire)); break;
                    case 8:
                    {
                        string domain = "";
                        long version = 0;
                        var opset = new ProtoReader(reader.Message(wire));
                        while (opset.Next(out int f, out var w))
                            if (f == 1) domain = opset.String(w);
                            else if (f == 2) version = opset.Int64(w);
                            else opset.Skip(w);
                        opsets[domain] = version;
                        break;
                    }
                    default: reader.Skip(wire); break;
                }
            return new OnnxModel(irVersion, producer, producerVersion, opsets,
                graph ?? throw new InvalidDataException("the model has no graph (field 7)."));
        }
        catch (InvalidDataException ex)
        {
            throw new InvalidDataException($"{source}: not a readable ONNX model: {ex.Message}", ex);
        }
    }

    private static OnnxGraph ReadGraph(ReadOnlyMemory<byte> bytes)
    {
        string name = "";
        var nodes = new List<OnnxNode>();
        var initializers = new Dictionary<string, OnnxTensor>(StringComparer.Ordinal);
        var inputs = new List<string>();
        var outputs = new List<string>();
        var reader = new ProtoReader(bytes);
        while (reader.Next(out int field, out var wire))
            switch (field)
            {
                case 1: nodes.Add(ReadNode(reader.Message(wire))); break;
                case 2: name = reader.String(wire); break;
                case 5:
                {
                    var tensor = ReadTensor(reader.Message(wire));
                    if (!initializers.TryAdd(tensor.Name, tensor)) throw new InvalidDataException($"two initializers are named '{tensor.Name}'.");
                    break;
                }
                case 11: inputs.Add(ValueInfoName(reader.Message(wire))); break;
                case 12: outputs.Add(ValueInfoName(reader.Message(wire))); break;
                case 15: throw new InvalidDataException("sparse initializers are not supported.");
                default: reader.Skip(wire); break;
            }
        return new OnnxGraph(name, nodes, initializers, inputs, outputs);
    }

    private static string ValueInfoName(ReadOnlyMemory<byte> bytes)
    {
        var reader = new ProtoReader(bytes);
        string name = "";
        while (reader.Next(out int field, out var wire))
            if (field == 1) name = reader.String(wire);
            else reader.Skip(wire);
        return name;
    }

    private static OnnxNode ReadNode(ReadOnlyMemory<byte> bytes)
    {
        string name = "", opType = "", domain = "";
        var inputs = new List<string>();
        var outputs = new List<string>();
        var attributes = new Dictionary<string, OnnxAttribute>(StringComparer.Ordinal);
        var reader = new ProtoReader(bytes);
        while (reader.Next(out int field, out var wire))
            switch (field)
            {
                case 1: inputs.Add(reader.String(wire)); break;
                case 2: outputs.Add(reader.String(wire)); break;
                case 3: name = reader.String(wire); break;
                case 4: opType = reader.String(wire); break;
                case 5:
                {
                    var attribute = ReadAttribute(reader.Message(wire));
                    attributes[attribute.Name] = attribute;
                    break;
                }
                case 7: domain = reader.String(wire); break;
                default: reader.Skip(wire); break;
            }
        return new OnnxNode(name, opType, domain, [.. inputs], [.. outputs], attributes);
    }

    private static OnnxAttribute ReadAttribute(ReadOnlyMemory<byte> bytes)
    {
        string name = "";
        float? f = null;
        long? i = null;
        byte[]? s = null;
        OnnxTensor? t = null;
        var floats = new List<float>();
        var ints = new List<long>();
        var reader = new ProtoReader(bytes);
        while (reader.Next(out int field, out var wire))
            switch (field)
            {
                case 1: name = reader.String(wire); break;
                case 2: f = reader.Float(wire); break;
                case 3: i = reader.Int64(wire); break;
                case 4: s = reader.Message(wire).ToArray(); break;
                case 5: t = ReadTensor(reader.Message(wire)); break;
                case 7: reader.Floats(wire, floats); break;
                case 8: reader.Int64s(wire, ints); break;
                default: reader.Skip(wire); break;
            }
        return new OnnxAttribute(name, f, i, s, t, [.. floats], [.. ints]);
    }

    private static OnnxTensor ReadTensor(ReadOnlyMemory<byte> bytes)
    {
        string name = "";
        var dims = new List<long>();
        var dataType = OnnxDataType.Undefined;
        ReadOnlyMemory<byte>? raw = null;
        var floats = new List<float>();
        var int32s = new List<long>();
        var int64s = new List<long>();
        var doubles = new List<double>();
        bool external = false;
        var reader = new ProtoReader(bytes);
        while (reader.Next(out int field, out var wire))
            switch (field)
            {
                case 1: reader.Int64s(wire, dims); break;
                case 2: dataType = (OnnxDataType)reader.Int64(wire); break;
                case 4: reader.Floats(wire, floats); break;
                case 5: reader.Int64s(wire, int32s); break;
                case 7: reader.Int64s(wire, int64s); break;
                case 8: name = reader.String(wire); break;
                case 9: raw = reader.Message(wire); break;
                case 10: reader.Doubles(wire, doubles); break;
                case 14: external = reader.Int64(wire) == 1; break;
                default: reader.Skip(wire); break;
            }
        if (external)
            throw new InvalidDataException($"tensor '{name}' keeps its data in an external file, which is not supported.");
        ReadOnlyMemory<byte> data = raw ?? dataType switch
        {
            OnnxDataType.Float => MemoryMarshal.AsBytes(floats.ToArray().AsSpan()).ToArray(),
            OnnxDataType.Double => MemoryMarshal.AsBytes(doubles.ToArray().AsSpan()).ToArray(),
            OnnxDataType.Int64 => MemoryMarshal.AsBytes(int64s.ToArray().AsSpan()).ToArray(),
            OnnxDataType.Int32 => MemoryMarshal.AsBytes(int32s.Select(v => (int)v).ToArray().AsSpan()).ToArray(),
            // FLOAT16 and BFLOAT16 travel bit-wise in int32_data, one element per entry.
            OnnxDataType.Float16 or OnnxDataType.BFloat16 => MemoryMarshal.AsBytes(int32s.Select(v => (ushort)v).ToArray().AsSpan()).ToArray(),
            _ => ReadOnlyMemory<byte>.Empty,
        };
        return new OnnxTensor(name, dataType, [.. dims], data);
    }

    /// <summary>Protobuf wire types (the low three bits of a field key).</summary>
    private enum WireType { Varint = 0, Fixed64 = 1, LengthDelimited = 2, Fixed32 = 5 }

    /// <summary>Reads one message's fields in order; length-delimited payloads are slices of the input, not copies.</summary>
    private struct ProtoReader(ReadOnlyMemory<byte> bytes)
    {
        private readonly ReadOnlyMemory<byte> _bytes = bytes;
        private int _position;

        private readonly bool AtEnd => _position >= _bytes.Length;

        public bool Next(out int field, out WireType wire)
        {
            field = 0;
            wire = WireType.Varint;
            if (AtEnd) return false;
            ulong key = Varint();
            field = (int)(key >> 3);
            wire = (WireType)(key & 7);
            if (field == 0 || wire is not (WireType.Varint or WireType.Fixed64 or WireType.LengthDelimited or WireType.Fixed32))
                throw new InvalidDataException($"bad field key {key} at byte {_position} (field {field}, wire type {(int)wire}).");
            return true;
        }

        public long Int64(WireType wire)
        {
            Expect(wire, WireType.Varint);
            return (long)Varint();
        }

        public float Float(WireType wire)
        {
            Expect(wire, WireType.Fixed32);
            return BinaryPrimitives.ReadSingleLittleEndian(Take(4).Span);
        }

        public string String(WireType wire) => Encoding.UTF8.GetString(Message(wire).Span);

        public ReadOnlyMemory<byte> Message(WireType wire)
        {
            Expect(wire, WireType.LengthDelimited);
            ulong length = Varint();
            if (length > (ulong)(_bytes.Length - _position))
                throw new InvalidDataException($"a field of {length} bytes at byte {_position} runs past the end of its message ({_bytes.Length} bytes).");
            return Take((int)length);
        }

        /// <summary>A repeated int64/int32 field, packed (one length-delimited run) or not (one varint per key).</summary>
        public void Int64s(WireType wire, List<long> values)
        {
            if (wire == WireType.Varint)
            {
                values.Add((long)Varint());
                return;
            }
            var packed = new ProtoReader(Message(wire));
            while (!packed.AtEnd) values.Add((long)packed.Varint());
        }

        public void Floats(WireType wire, List<float> values) =>
            FixedWidth(wire, WireType.Fixed32, values, bytes => BinaryPrimitives.ReadSingleLittleEndian(bytes));

        public void Doubles(WireType wire, List<double> values) =>
            FixedWidth(wire, WireType.Fixed64, values, bytes => BinaryPrimitives.ReadDoubleLittleEndian(bytes));

        /// <summary>A repeated fixed-width field, packed (one length-delimited run) or one value per key.</summary>
        private void FixedWidth<T>(WireType wire, WireType single, List<T> values, Func<ReadOnlySpan<byte>, T> read) where T : unmanaged
        {
            int width = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
            if (wire == single)
            {
                values.Add(read(Take(width).Span));
                return;
            }
            var packed = Message(wire).Span;
            if (packed.Length % width != 0)
                throw new InvalidDataException($"a packed field of {packed.Length} bytes is not a multiple of its {width}-byte elements.");
            for (int i = 0; i < packed.Length; i += width) values.Add(read(packed[i..]));
        }

        public void Skip(WireType wire)
        {
            switch (wire)
            {
                case WireType.Varint: Varint(); break;
                case WireType.Fixed64: Take(8); break;
                case WireType.Fixed32: Take(4); break;
                default: Message(wire); break;
            }
        }

        private ulong Varint()
        {
            ulong value = 0;
            for (int shift = 0; shift < 70; shift += 7)
            {
                if (AtEnd) throw new InvalidDataException("the data ends inside a varint.");
                byte b = _bytes.Span[_position++];
                value |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80) return value;
            }
            throw new InvalidDataException($"a varint longer than 10 bytes ends at byte {_position}.");
        }

        private ReadOnlyMemory<byte> Take(int count)
        {
            if (count > _bytes.Length - _position)
                throw new InvalidDataException($"{count} bytes needed at byte {_position}, only {_bytes.Length - _position} left.");
            var slice = _bytes.Slice(_position, count);
            _position += count;
            return slice;
        }

        private static void Expect(WireType actual, WireType expected)
        {
            if (actual != expected) throw new InvalidDataException($"wire type {actual} where the schema has {expected}.");
        }
    }
}
