using System.Buffers;
using System.Numerics.Tensors;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Models;

/// <summary>
/// A linear layer <c>y = x·Wᵀ + b</c> (W [out × in], as <c>torch.nn.Linear</c>; the bias b is optional, LLaMA's
/// layers have none, BERT's have one) and the quantization point on its input. Calibrators replace <see cref="Weight"/> with quantized or folded weights and set
/// <see cref="InputQuantizer"/>; <see cref="PackedWeight"/> keeps the weight in a packed low-bit form instead.
/// </summary>
public sealed class LinearLayer
{
    private float[]? _weight;
    private StoredWeight? _stored;
    private IPackedMatrix? _packed;
    private float[]? _bias;

    /// <summary>Writes a weight's float32 values ([out × in], row-major) into <paramref name="destination"/>.</summary>
    public delegate void WeightReader(Span<float> destination);

    /// <summary>A stored weight's binary16 values in place ([out × in], row-major), e.g. in a memory-mapped file.</summary>
    internal delegate ReadOnlySpan<Half> HalfWeightView();

    /// <summary>
    /// A weight left in its stored form: how to convert it, and, for F16 values, their input-major copy for one-token
    /// products, built on the first such product (null inside when the weight holds ±∞ or NaN).
    /// </summary>
    private sealed record StoredWeight(WeightReader Read, Lazy<HalfColumns?>? HalfColumns);

    /// <summary>A layer that owns <paramref name="weight"/>, [<paramref name="outFeatures"/> × <paramref name="inFeatures"/>] row-major (held, not copied).</summary>
    /// <exception cref="ArgumentException">An empty name, non-positive features, or a weight whose length is not out · in.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="weight"/> is null.</exception>
    public LinearLayer(string name, int inFeatures, int outFeatures, float[] weight) : this(name, inFeatures, outFeatures)
    {
        _weight = CheckWeight(weight);
    }

    /// <summary>
    /// A layer whose weight stays where <paramref name="storedWeight"/> reads it from (a memory-mapped F16/BF16
    /// tensor) and is converted into a pooled float32 buffer each time the layer runs, until <see cref="Weight"/>
    /// is first read or set.
    /// </summary>
    public LinearLayer(string name, int inFeatures, int outFeatures, WeightReader storedWeight) : this(name, inFeatures, outFeatures, storedWeight, null)
    {
    }

    /// <summary>
    /// The stored-weight layer with the F16 values in place (<paramref name="half"/>, or null): decoding one token then
    /// multiplies a copy of them held input-major (<see cref="ManagedGemm.RowTimesHalfColumns"/>) instead of converting
    /// the whole weight; the copy is made on the first decoded token.
    /// </summary>
    internal LinearLayer(string name, int inFeatures, int outFeatures, WeightReader storedWeight, HalfWeightView? half) : this(name, inFeatures, outFeatures)
    {
        _stored = new StoredWeight(storedWeight ?? throw new ArgumentNullException(nameof(storedWeight)),
            half is null ? null : new Lazy<HalfColumns?>(() => HalfColumns.FromRows(half(), outFeatures, inFeatures)));
    }

    private LinearLayer(string name, int inFeatures, int outFeatures)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (inFeatures <= 0 || outFeatures <= 0)
            throw new ArgumentException($"{name}: features must be positive, got in={inFeatures}, out={outFeatures}.");
        Name = name;
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
    }

    /// <summary>Hugging Face module name, e.g. <c>model.layers.3.self_attn.q_proj</c> or <c>lm_head</c>.</summary>
    public string Name { get; }
    /// <summary>Input features, the columns of the weight.</summary>
    public int InFeatures { get; }
    /// <summary>Output features, the rows of the weight.</summary>
    public int OutFeatures { get; }

    /// <summary>Name of the weight tensor in a checkpoint: <c>{Name}.weight</c>.</summary>
    public string WeightName => Name + ".weight";

    /// <summary>
    /// Row-major [OutFeatures × InFeatures]. Setting it checks the length, keeps the array (no copy) and drops any
    /// stored or packed weight. Reading it from a layer that keeps its stored weight converts it to float32 once and
    /// keeps that; while the weight is packed, reading it decodes a fresh array each time.
    /// </summary>
    public float[] Weight
    {
        get
        {
            if (_weight is not null) return _weight;
            if (_packed is not null) return PackedMatMul.Decode(_packed);
            var weight = new float[OutFeatures * InFeatures];
            _stored!.Read(weight);
            (_weight, _stored) = (weight, null);
            return _weight;
        }
        set
        {
            _weight = CheckWeight(value);
            (_stored, _packed) = (null, null);
        }
    }

    /// <summary>Name of the bias tensor in a checkpoint: <c>{Name}.bias</c>.</summary>
    public string BiasName => Name + ".bias";

    /// <summary>
    /// The bias [OutFeatures] added to every output row, or null (none). Calibration leaves it in full precision: it cancels
    /// from every output error the calibrators measure.
    /// </summary>
    /// <exception cref="ArgumentException">The length is not <see cref="OutFeatures"/>.</exception>
    public float[]? Bias
    {
        get => _bias;
        set => _bias = value is null || value.Length == OutFeatures ? value
            : throw new ArgumentException($"{BiasName}: expected shape [{OutFeatures}], got {value.Length} values.");
    }

    /// <summary>True while the weight is still read from its stored form at every forward (see the second constructor).</summary>
    public bool KeepsStoredWeight => _stored is not null;

    /// <summary>
    /// The weight in packed storage (FP6 4+2 planes or INT4 nibbles), or null. Setting it releases the float32 array:
    /// the forward then multiplies from the packed form (<see cref="PackedMatMul"/>), decoding tiles of rows on the fly.
    /// </summary>
    public IPackedMatrix? PackedWeight
    {
        get => _packed;
        set
        {
            if (value is null)
            {
                if (_packed is not null) (_weight, _packed) = (PackedMatMul.Decode(_packed), null);
                return;
            }
            if (value.Rows != OutFeatures || value.Cols != InFeatures)
                throw new ArgumentException($"{WeightName}: packed weight is [{value.Rows} × {value.Cols}], the layer needs [{OutFeatures} × {InFeatures}].");
            (_packed, _weight, _stored) = (value, null, null);
        }
    }

    /// <summary>
    /// Bytes the weight keeps resident: the packed form's, 4 per float32 weight, or 2 per weight of a stored 16-bit
    /// tensor (mapped from the file rather than held on the managed heap), plus 2 per weight once decoding a token has
    /// made the input-major F16 copy.
    /// </summary>
    public long WeightBytes => _packed?.ResidentBytes ?? (_weight is not null ? 4L * _weight.Length
        : 2L * OutFeatures * InFeatures * (_stored!.HalfColumns is { IsValueCreated: true, Value: not null } ? 2 : 1));

    /// <summary>Fake-quantizes a copy of the input ([rows × InFeatures]) before the product; null = off.</summary>
    public ITensorQuantizer? InputQuantizer { get; set; }

    /// <summary>
    /// <c>output[rows × OutFeatures] = op(input)·Wᵀ</c>, where op is the input quantizer applied to a copy in
    /// <paramref name="scratch"/> (≥ rows × InFeatures; unused when the quantizer is off), so the caller's
    /// input is never modified. The bias, if any, is added to every output row. The observer, if any, then sees the
    /// unquantized input and the output.
    /// </summary>
    public void Forward(ReadOnlySpan<float> input, Span<float> output, int rows, Span<float> scratch, ILinearObserver? observer = null)
    {
        int inputLength = rows * InFeatures, outputLength = rows * OutFeatures;
        if (input.Length < inputLength)
            throw new ArgumentException($"{Name}: input has {input.Length} elements, needs {inputLength} ({rows} × {InFeatures}).");
        if (output.Length < outputLength)
            throw new ArgumentException($"{Name}: output has {output.Length} elements, needs {outputLength} ({rows} × {OutFeatures}).");
        input = input[..inputLength];
        output = output[..outputLength];

        ReadOnlySpan<float> operand = input;
        if (InputQuantizer is { } quantizer)
        {
            if (scratch.Length < inputLength)
                throw new ArgumentException($"{Name}: scratch has {scratch.Length} elements, needs {inputLength} for the quantized input.");
            Span<float> copy = scratch[..inputLength];
            input.CopyTo(copy);
            quantizer.Apply(copy, rows, InFeatures);
            operand = copy;
        }
        if (_packed is not null)
            PackedMatMul.MatMul(_packed, operand, output, rows);
        else if (_weight is { } weight)
            Gemm.MatMul(operand, weight, output, rows, OutFeatures, InFeatures, transposeB: true);
        else if (rows == 1 && Gemm.Backend is ManagedGemm { MultipliesInputMajorWeights: true } managed && _stored!.HalfColumns?.Value is { } columns)
            managed.RowTimesHalfColumns(operand, columns, output);
        else
        {
            int length = OutFeatures * InFeatures;
            float[] converted = ArrayPool<float>.Shared.Rent(length);
            try
            {
                _stored!.Read(converted.AsSpan(0, length));
                Gemm.MatMul(operand, converted.AsSpan(0, length), output, rows, OutFeatures, InFeatures, transposeB: true);
            }
            finally
            {
                ArrayPool<float>.Shared.Return(converted);
            }
        }
        if (_bias is { } bias)
            for (int r = 0; r < rows; r++)
                TensorPrimitives.Add(output.Slice(r * OutFeatures, OutFeatures), bias, output.Slice(r * OutFeatures, OutFeatures));
        observer?.Observe(this, input, output, rows);
    }

    /// <summary>"name [out × in]".</summary>
    public override string ToString() => $"{Name} [{OutFeatures} × {InFeatures}]";

    private float[] CheckWeight(float[] weight)
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (weight.Length != (long)OutFeatures * InFeatures)
            throw new ArgumentException($"{WeightName}: expected shape [{OutFeatures}, {InFeatures}] ({(long)OutFeatures * InFeatures} values), got {weight.Length} values.");
        return weight;
    }
}
