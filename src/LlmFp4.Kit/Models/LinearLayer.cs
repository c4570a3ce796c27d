using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Models;

/// <summary>
/// A bias-free linear layer <c>y = x·Wᵀ</c> (W [out × in], as <c>torch.nn.Linear</c>) and the quantization
/// point on its input. Calibrators replace <see cref="Weight"/> with quantized or folded weights and set
/// <see cref="InputQuantizer"/>; <see cref="PackedWeight"/> keeps the weight in a packed low-bit form instead.
/// </summary>
public sealed class LinearLayer
{
    private float[]? _weight;
    private IPackedMatrix? _packed;

    public LinearLayer(string name, int inFeatures, int outFeatures, float[] weight)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (inFeatures <= 0 || outFeatures <= 0)
            throw new ArgumentException($"{name}: features must be positive, got in={inFeatures}, out={outFeatures}.");
        Name = name;
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        _weight = CheckWeight(weight);
    }

    /// <summary>Hugging Face module name, e.g. <c>model.layers.3.self_attn.q_proj</c> or <c>lm_head</c>.</summary>
    public string Name { get; }
    public int InFeatures { get; }
    public int OutFeatures { get; }

    /// <summary>Name of the weight tensor in a checkpoint: <c>{Name}.weight</c>.</summary>
    public string WeightName => Name + ".weight";

    /// <summary>
    /// Row-major [OutFeatures × InFeatures]. Setting it checks the length, keeps the array (no copy) and drops any packed
    /// weight. While the weight is packed, reading it decodes a fresh array each time.
    /// </summary>
    public float[] Weight
    {
        get => _weight ?? PackedMatMul.Decode(_packed!);
        set
        {
            _weight = CheckWeight(value);
            _packed = null;
        }
    }

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
            (_packed, _weight) = (value, null);
        }
    }

    /// <summary>Bytes the weight keeps resident: the packed form's, or 4 per float32 weight.</summary>
    public long WeightBytes => _packed?.ResidentBytes ?? 4L * _weight!.Length;

    /// <summary>Fake-quantizes a copy of the input ([rows × InFeatures]) before the product; null = off.</summary>
    public ITensorQuantizer? InputQuantizer { get; set; }

    /// <summary>
    /// <c>output[rows × OutFeatures] = op(input)·Wᵀ</c>, where op is the input quantizer applied to a copy in
    /// <paramref name="scratch"/> (≥ rows × InFeatures; unused when the quantizer is off), so the caller's
    /// input is never modified. The observer, if any, then sees the unquantized input and the output.
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
        if (_packed is not null) PackedMatMul.MatMul(_packed, operand, output, rows);
        else Gemm.MatMul(operand, _weight, output, rows, OutFeatures, InFeatures, transposeB: true);
        observer?.Observe(this, input, output, rows);
    }

    public override string ToString() => $"{Name} [{OutFeatures} × {InFeatures}]";

    private float[] CheckWeight(float[] weight)
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (weight.Length != (long)OutFeatures * InFeatures)
            throw new ArgumentException($"{WeightName}: expected shape [{OutFeatures}, {InFeatures}] ({(long)OutFeatures * InFeatures} values), got {weight.Length} values.");
        return weight;
    }
}
