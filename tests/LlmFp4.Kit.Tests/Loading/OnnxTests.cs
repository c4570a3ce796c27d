using LlmFp4.Kit.Models.Loading;

namespace LlmFp4.Kit.Tests.Loading;

/// <summary>The ONNX protobuf reader on messages written field by field (onnx.proto field numbers).</summary>
public class OnnxTests
{
    /// <summary>Protobuf wire format, written plainly: keys are (field &lt;&lt; 3 | wire type), then the payload.</summary>
    private sealed class Proto
    {
        private readonly List<byte> _bytes = [];
        public byte[] ToArray() => [.. _bytes];

        public Proto Varint(int field, long value) { Key(field, 0); Raw((ulong)value); return this; }
        public Proto Bytes(int field, byte[] value) { Key(field, 2); Raw((ulong)value.Length); _bytes.AddRange(value); return this; }
        public Proto String(int field, string value) => Bytes(field, System.Text.Encoding.UTF8.GetBytes(value));
        public Proto Message(int field, Proto value) => Bytes(field, value.ToArray());
        public Proto Fixed32(int field, float value) { Key(field, 5); _bytes.AddRange(BitConverter.GetBytes(value)); return this; }
        public Proto PackedVarints(int field, params long[] values)
        {
            var packed = new Proto();
            foreach (long v in values) packed.Raw((ulong)v);
            return Bytes(field, packed.ToArray());
        }

        private void Key(int field, int wire) => Raw((ulong)(field << 3 | wire));
        private void Raw(ulong value)
        {
            do
            {
                byte b = (byte)(value & 0x7F);
                value >>= 7;
                _bytes.Add(value == 0 ? b : (byte)(b | 0x80));
            } while (value != 0);
        }
    }

    private static byte[] Floats(params float[] values) => values.SelectMany(BitConverter.GetBytes).ToArray();

    private static byte[] Model()
    {
        var weight = new Proto().PackedVarints(1, 2, 3).Varint(2, 1).String(8, "w").Bytes(4, Floats(1, 2, 3, 4, 5, 6));
        var shape = new Proto().Varint(1, 2).Varint(1, 1).Varint(2, 7).String(8, "shape")
            .Bytes(9, [.. BitConverter.GetBytes(-1L), .. BitConverter.GetBytes(12L)]);
        var half = new Proto().Varint(1, 2).Varint(2, 10).String(8, "half").PackedVarints(5, 0x3C00, 0xC000); // 1.0, -2.0
        var attribute = new Proto().String(1, "axis").Varint(20, 2).Varint(3, -1);
        var epsilon = new Proto().String(1, "epsilon").Varint(20, 1).Fixed32(2, 1e-12f);
        var node = new Proto().String(1, "x").String(1, "w").String(2, "y").String(3, "matmul_0").String(4, "MatMul")
            .Message(5, attribute).Message(5, epsilon).Varint(99, 5); // 99: a field the schema does not have
        var graph = new Proto().Message(1, node).String(2, "main").Message(5, weight).Message(5, shape).Message(5, half)
            .Message(11, new Proto().String(1, "x")).Message(12, new Proto().String(1, "y"));
        return new Proto().Varint(1, 7).String(2, "pytorch").String(3, "1.10").Message(7, graph)
            .Message(8, new Proto().String(1, "").Varint(2, 13)).ToArray();
    }

    [Fact]
    public void ReadsGraphNodesAttributesAndInitializersInEveryEncoding()
    {
        var model = OnnxModel.Read(Model(), "test.onnx");
        Assert.Equal((7L, "pytorch", "1.10"), (model.IrVersion, model.ProducerName, model.ProducerVersion));
        Assert.Equal(13, model.Opsets[""]);
        var node = Assert.Single(model.Graph.Nodes);
        Assert.Equal(("MatMul", "matmul_0"), (node.OpType, node.Name));
        Assert.Equal(["x", "w"], node.Inputs);
        Assert.Equal(["y"], node.Outputs);
        Assert.Equal(-1, node.Attributes["axis"].Int);
        Assert.Equal(1e-12f, node.Attributes["epsilon"].Float);
        Assert.Equal(["x"], model.Graph.Inputs);
        Assert.Equal(["y"], model.Graph.Outputs);

        var weight = model.Graph.Initializers["w"];
        Assert.Equal([2L, 3L], weight.Dims); // packed dims
        Assert.Equal([1f, 2, 3, 4, 5, 6], weight.ToFloat32()); // float_data
        var shape = model.Graph.Initializers["shape"];
        Assert.Equal([2L, 1L], shape.Dims); // unpacked dims, one entry per key
        Assert.Equal([-1L, 12L], shape.ToInt64()); // raw_data
        Assert.Equal([1f, -2f], model.Graph.Initializers["half"].ToFloat32()); // float16 bits in int32_data
        Assert.Throws<InvalidDataException>(() => weight.ToInt64());
    }

    [Fact]
    public void MalformedOrUnsupportedInputIsAnErrorNamingTheSource()
    {
        byte[] model = Model();
        Assert.Contains("test.onnx", Assert.Throws<InvalidDataException>(() => OnnxModel.Read(model.AsMemory(0, model.Length - 3), "test.onnx")).Message);
        Assert.Contains("no graph", Assert.Throws<InvalidDataException>(() => OnnxModel.Read(new Proto().Varint(1, 7).ToArray(), "x")).Message);
        var external = new Proto().String(8, "w").Varint(2, 1).Varint(14, 1);
        var graph = new Proto().Message(5, external);
        Assert.Contains("external file",
            Assert.Throws<InvalidDataException>(() => OnnxModel.Read(new Proto().Message(7, graph).ToArray(), "x")).Message);
        // A string field sent as a varint: the wire type contradicts the schema.
        Assert.Contains("wire type", Assert.Throws<InvalidDataException>(() => OnnxModel.Read(new Proto().Varint(2, 1).ToArray(), "x")).Message);
        var tooShort = new OnnxTensor("t", OnnxDataType.Float, [3], new byte[8]);
        Assert.Contains("do not hold shape [3]", Assert.Throws<InvalidDataException>(() => tooShort.ToFloat32()).Message);
    }
}
