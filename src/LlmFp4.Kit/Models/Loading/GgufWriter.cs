using System.Text;

namespace LlmFp4.Kit.Models.Loading;

/// <summary>
/// Writes GGUF version 3 files: metadata pairs, then tensor infos, then tensor data, each tensor at a
/// multiple of the alignment (<c>general.alignment</c> when set, else 32). Written to a temporary file, then renamed.
/// </summary>
public sealed class GgufWriter
{
    /// <summary>The GGUF version written, 3.</summary>
    public const uint Version = 3;

    private readonly List<(string Key, object Value)> _metadata = [];
    private readonly List<(string Name, ulong[] Dimensions, GgmlType Type, long Bytes, Action<Stream> WriteData)> _tensors = [];

    /// <summary>
    /// Adds a metadata pair. The GGUF type follows the .NET type: <c>byte, sbyte, ushort, short, uint, int,
    /// float, bool, string, ulong, long, double</c>, or a one-dimensional array of those or of arrays.
    /// </summary>
    public void AddMetadata(string key, object value)
    {
        if (key.Length == 0) throw new ArgumentException("a metadata key must not be empty.", nameof(key));
        if (TypeOf(value, key) == GgufValueType.Array) ElementTypeOf((Array)value, key);
        if (_metadata.Any(m => m.Key == key)) throw new ArgumentException($"metadata key '{key}' added twice.");
        _metadata.Add((key, value));
    }

    /// <summary>Adds a tensor given in row-major order, stored with ggml's reversed dimensions. Values are read at <see cref="Save"/>.</summary>
    public void AddTensor(TensorToWrite tensor)
    {
        tensor.Check();
        var type = tensor.DType switch { DType.F32 => GgmlType.F32, DType.F16 => GgmlType.F16, _ => GgmlType.BF16 };
        Add(tensor.Name, tensor.Shape, type, (long)tensor.Values.Length * tensor.DType.ByteSize(), tensor.WriteData);
    }

    /// <summary>Adds a tensor whose bytes are already encoded in <paramref name="type"/> (a quantized tensor, say).</summary>
    public void AddEncodedTensor(string name, int[] shape, GgmlType type, byte[] data) =>
        Add(name, shape, type, data.Length, stream => stream.Write(data));

    private void Add(string name, int[] shape, GgmlType type, long bytes, Action<Stream> writeData)
    {
        if (_tensors.Any(t => t.Name == name)) throw new ArgumentException($"tensor {name} added twice.");
        if (shape.Length > 4 || shape.Any(d => d < 0))
            throw new ArgumentException($"tensor {name}: shape {LlamaTensorLayout.FormatShape(shape)} must have at most 4 non-negative dimensions.");
        _tensors.Add((name, shape.Reverse().Select(d => (ulong)d).ToArray(), type, bytes, writeData));
    }

    /// <summary>Writes the file to <paramref name="path"/> through a temporary file, so a failure leaves no half-written file.</summary>
    /// <exception cref="ArgumentException"><see cref="GgufFile.AlignmentKey"/> set to something other than a power-of-two uint.</exception>
    public void Save(string path)
    {
        uint alignment = _metadata.FirstOrDefault(m => m.Key == GgufFile.AlignmentKey).Value switch
        {
            null => GgufFile.DefaultAlignment,
            uint a when a > 0 && (a & (a - 1)) == 0 => a,
            var other => throw new ArgumentException($"{GgufFile.AlignmentKey} must be a power-of-two uint, got {other}."),
        };
        AtomicFile.Write(path, stream =>
        {
            using var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
            writer.Write(GgufFile.Magic);
            writer.Write(Version);
            writer.Write((ulong)_tensors.Count);
            writer.Write((ulong)_metadata.Count);
            foreach (var (key, value) in _metadata)
            {
                WriteString(writer, key);
                writer.Write((uint)TypeOf(value, key));
                WriteValue(writer, value);
            }
            long offset = 0;
            foreach (var tensor in _tensors)
            {
                WriteString(writer, tensor.Name);
                writer.Write((uint)tensor.Dimensions.Length);
                foreach (ulong d in tensor.Dimensions) writer.Write(d);
                writer.Write((uint)tensor.Type);
                writer.Write((ulong)offset);
                offset = GgufReader.AlignUp(offset + tensor.Bytes, alignment);
            }
            writer.Flush();
            Pad(stream, alignment);
            // The data section starts aligned, so padding each tensor to the alignment lands every
            // tensor at the offset written above (gguf-py pads the same way, the last tensor included).
            foreach (var tensor in _tensors)
            {
                tensor.WriteData(stream);
                Pad(stream, alignment);
            }
        });
    }

    /// <summary>
    /// Saves a model as llama.cpp's converter would: <c>llama.*</c> metadata, llama.cpp tensor names and
    /// q/k rows permuted to adjacent-pair RoPE order (<see cref="RopeLayout.ToInterleaved"/>), norm weights in F32 whatever
    /// <paramref name="dtype"/> (llama.cpp's CPU kernels multiply by F32 norms only). With a byte-level BPE
    /// <paramref name="tokenizer"/> (GPT-2 style, as the kit's own) the <c>tokenizer.ggml.*</c> metadata llama.cpp needs
    /// to load the file is written too (<see cref="AddByteLevelBpeTokenizer"/>). With <paramref name="matrixType"/>
    /// <see cref="GgmlType.Q4_0"/> every matrix is stored in llama.cpp's Q4_0 (<see cref="EncodeQ4_0"/>; rows must be
    /// multiples of 32); the kit's own loader reads F32, F16 and BF16 only.
    /// </summary>
    public static void SaveLlama(string path, LlamaConfig config, IReadOnlyDictionary<string, float[]> weights, DType dtype = DType.F32,
        Tokenizers.BpeTokenizer? tokenizer = null, GgmlType? matrixType = null)
    {
        LlamaTensorLayout.CheckWeights(config, weights);
        if (matrixType is not (null or GgmlType.Q4_0))
            throw new ArgumentException($"SaveLlama writes matrices as F32, F16, BF16 or Q4_0, not {matrixType}.", nameof(matrixType));
        var gguf = new GgufWriter();
        gguf.AddMetadata("general.architecture", "llama");
        gguf.AddMetadata("general.file_type", matrixType is GgmlType.Q4_0 ? 2u : dtype switch { DType.F32 => 0u, DType.F16 => 1u, _ => 32u });
        gguf.AddMetadata("llama.vocab_size", (uint)config.VocabSize);
        gguf.AddMetadata("llama.context_length", (uint)config.MaxPositionEmbeddings);
        gguf.AddMetadata("llama.embedding_length", (uint)config.HiddenSize);
        gguf.AddMetadata("llama.block_count", (uint)config.NumHiddenLayers);
        gguf.AddMetadata("llama.feed_forward_length", (uint)config.IntermediateSize);
        gguf.AddMetadata("llama.rope.dimension_count", (uint)config.HeadDim);
        gguf.AddMetadata("llama.attention.head_count", (uint)config.NumAttentionHeads);
        gguf.AddMetadata("llama.attention.head_count_kv", (uint)config.KeyValueHeads);
        gguf.AddMetadata("llama.attention.layer_norm_rms_epsilon", (float)config.RmsNormEps);
        gguf.AddMetadata("llama.rope.freq_base", (float)config.RopeTheta);
        if (config.BosTokenId is { } bos) gguf.AddMetadata("tokenizer.ggml.bos_token_id", (uint)bos.First);
        if (config.EosTokenId is { } eos) gguf.AddMetadata("tokenizer.ggml.eos_token_id", (uint)eos.First);
        if (tokenizer is not null)
        {
            if (tokenizer.VocabSize != config.VocabSize)
                throw new ArgumentException($"{tokenizer.Model.Source}: the tokenizer has {tokenizer.VocabSize} tokens, the model's vocab_size is {config.VocabSize}.");
            gguf.AddByteLevelBpeTokenizer(tokenizer);
        }
        foreach (var (name, shape) in LlamaTensorLayout.Expected(config))
        {
            float[] values = weights[name];
            int heads = LlamaTensorLayout.RotaryHeads(config, name);
            if (heads > 0)
            {
                var permuted = new float[values.Length];
                RopeLayout.ToInterleaved(values, heads, shape[^1], permuted);
                values = permuted;
            }
            if (matrixType is GgmlType.Q4_0 && shape.Length == 2)
                gguf.AddEncodedTensor(GgufCheckpoint.ToGgufName(name), shape, GgmlType.Q4_0, EncodeQ4_0(values, $"{name} {LlamaTensorLayout.FormatShape(shape)}"));
            else
                gguf.AddTensor(new TensorToWrite(GgufCheckpoint.ToGgufName(name), shape, values, shape.Length == 1 ? DType.F32 : dtype));
        }
        gguf.Save(path);
    }

    /// <summary>
    /// The <c>tokenizer.ggml.*</c> keys of a GPT-2 style byte-level BPE as llama.cpp's converter writes them
    /// (llama.cpp <c>src/llama-vocab.cpp</c>, gguf-py <c>constants.py</c>): model "gpt2" and pre-tokenizer "gpt-2" (the
    /// GPT-2 split regex, as Hugging Face's ByteLevel pre-tokenizer with use_regex), every token by id, the merges as
    /// "left right" in rank order, and token types (1 normal, 3 control for special added tokens, 4 user-defined for the
    /// other added ones). BOS is not added: the kit's tokenizer has no post-processor that adds one.
    /// </summary>
    public void AddByteLevelBpeTokenizer(Tokenizers.BpeTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        var tokens = new string[tokenizer.VocabSize];
        var types = new int[tokenizer.VocabSize];
        for (int id = 0; id < tokens.Length; id++)
        {
            tokens[id] = tokenizer.IdToToken(id) ?? throw new ArgumentException($"{tokenizer.Model.Source}: token id {id} is unused; GGUF needs every id.");
            types[id] = 1;
        }
        foreach (var added in tokenizer.AddedTokens) types[added.Id] = added.Special ? 3 : 4;
        AddMetadata("tokenizer.ggml.model", "gpt2");
        AddMetadata("tokenizer.ggml.pre", "gpt-2");
        AddMetadata("tokenizer.ggml.tokens", tokens);
        AddMetadata("tokenizer.ggml.token_type", types);
        AddMetadata("tokenizer.ggml.merges", tokenizer.Model.Merges.Select(m => $"{m.Left} {m.Right}").ToArray());
        AddMetadata("tokenizer.ggml.add_bos_token", false);
    }

    /// <summary>
    /// ggml's Q4_0 blocks (<c>quantize_row_q4_0_ref</c> in ggml-quants.c): per 32 consecutive values the value of largest
    /// magnitude m gives d = m / −8, stored as IEEE half, and each value the 4-bit code min(15, trunc(x/d + 8.5)); byte j
    /// of a block holds code j in its low nibble and code j + 16 in its high one. 18 bytes per block.
    /// </summary>
    public static byte[] EncodeQ4_0(ReadOnlySpan<float> values, string what = "tensor")
    {
        const int block = 32;
        if (values.Length % block != 0) throw new ArgumentException($"{what}: Q4_0 needs a multiple of {block} values, got {values.Length}.");
        var bytes = new byte[values.Length / block * 18];
        for (int b = 0; b < values.Length / block; b++)
        {
            var x = values.Slice(b * block, block);
            float amax = 0, max = 0;
            foreach (float v in x)
                if (MathF.Abs(v) > amax) (amax, max) = (MathF.Abs(v), v);
            float d = max / -8, id = d != 0 ? 1 / d : 0;
            var target = bytes.AsSpan(b * 18, 18);
            BitConverter.TryWriteBytes(target, (Half)d);
            for (int j = 0; j < block / 2; j++)
            {
                int low = Math.Min(15, (int)(sbyte)(x[j] * id + 8.5f)), high = Math.Min(15, (int)(sbyte)(x[j + block / 2] * id + 8.5f));
                target[2 + j] = (byte)(low | (high << 4));
            }
        }
        return bytes;
    }

    private static void Pad(Stream stream, uint alignment)
    {
        long padding = GgufReader.AlignUp(stream.Position, alignment) - stream.Position;
        for (long i = 0; i < padding; i++) stream.WriteByte(0);
    }

    private static void WriteString(BinaryWriter writer, string value)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(value);
        writer.Write((ulong)bytes.Length);
        writer.Write(bytes);
    }

    private static GgufValueType TypeOf(object value, string key) => TypeOf(value.GetType(), key);

    private static GgufValueType TypeOf(Type type, string key) =>
        type == typeof(byte) ? GgufValueType.UInt8 : type == typeof(sbyte) ? GgufValueType.Int8
        : type == typeof(ushort) ? GgufValueType.UInt16 : type == typeof(short) ? GgufValueType.Int16
        : type == typeof(uint) ? GgufValueType.UInt32 : type == typeof(int) ? GgufValueType.Int32
        : type == typeof(float) ? GgufValueType.Float32 : type == typeof(bool) ? GgufValueType.Bool
        : type == typeof(string) ? GgufValueType.String : type == typeof(ulong) ? GgufValueType.UInt64
        : type == typeof(long) ? GgufValueType.Int64 : type == typeof(double) ? GgufValueType.Float64
        : type.IsSZArray ? GgufValueType.Array
        : throw new ArgumentException($"metadata '{key}': {type.Name} has no GGUF type.");

    /// <summary>
    /// The one type all elements of a GGUF array share: the array's element type, or for an
    /// <c>object[]</c> the type of its elements, which must agree. Nested arrays are checked too.
    /// </summary>
    private static GgufValueType ElementTypeOf(Array array, string key)
    {
        var declared = array.GetType().GetElementType()!;
        GgufValueType? type = declared == typeof(object) ? null : TypeOf(declared, key);
        foreach (var item in array)
        {
            var itemType = TypeOf(item ?? throw new ArgumentException($"metadata '{key}': null array element."), key);
            if (type is not null && itemType != type) throw new ArgumentException($"metadata '{key}': array elements differ in type.");
            type = itemType;
            if (item is Array inner) ElementTypeOf(inner, key);
        }
        return type ?? throw new ArgumentException($"metadata '{key}': cannot tell the element type of an empty object[].");
    }

    private static void WriteValue(BinaryWriter writer, object value)
    {
        switch (value)
        {
            case byte v: writer.Write(v); break;
            case sbyte v: writer.Write(v); break;
            case ushort v: writer.Write(v); break;
            case short v: writer.Write(v); break;
            case uint v: writer.Write(v); break;
            case int v: writer.Write(v); break;
            case float v: writer.Write(v); break;
            case bool v: writer.Write((byte)(v ? 1 : 0)); break;
            case string v: WriteString(writer, v); break;
            case ulong v: writer.Write(v); break;
            case long v: writer.Write(v); break;
            case double v: writer.Write(v); break;
            case Array array:
                writer.Write((uint)ElementTypeOf(array, ""));
                writer.Write((ulong)array.Length);
                foreach (var item in array) WriteValue(writer, item);
                break;
        }
    }
}
