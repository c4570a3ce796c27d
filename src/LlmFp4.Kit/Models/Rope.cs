using System.Runtime.Intrinsics;

namespace LlmFp4.Kit.Models;

/// <summary>
/// Rotary position embedding in the Hugging Face LLaMA convention: each head vector is split into two
/// halves (x1, x2) and rotated as <c>(x1·cos − x2·sin, x2·cos + x1·sin)</c> (<c>rotate_half</c>), with
/// frequency <c>1/theta^(2i/headDim)</c> for pair i, rescaled as <see cref="RopeScaling"/> says (cos and sin then
/// times its attention factor). Tables are computed once, in float32 as PyTorch does (float inverse frequency,
/// float angle), so positions match a PyTorch model bit for bit in the angle.
/// </summary>
public sealed class Rope
{
    private readonly float[] _cos, _sin; // [maxPositions × headDim/2]

    /// <summary>Rotated dimensions per head (even); the tables hold HeadDim/2 frequencies.</summary>
    public int HeadDim { get; }
    /// <summary>Positions the cos/sin tables cover, in tokens; positions at or beyond it are refused.</summary>
    public int MaxPositions { get; }
    /// <summary>The frequency base θ before any rescaling.</summary>
    public double Theta { get; }

    /// <summary>The rotary embedding of a model with <paramref name="config"/>, for up to <paramref name="maxPositions"/> positions (default: max_position_embeddings).</summary>
    public static Rope For(LlamaConfig config, int? maxPositions = null) =>
        new(config.HeadDim, config.EffectiveRopeTheta, maxPositions ?? config.MaxPositionEmbeddings, config.EffectiveRopeScaling, config.MaxPositionEmbeddings);

    /// <param name="headDim">Rotated dimensions per head (even).</param>
    /// <param name="theta">Frequency base.</param>
    /// <param name="maxPositions">Positions the tables hold.</param>
    /// <param name="scaling">Frequency rescaling (null: none).</param>
    /// <param name="maxPositionEmbeddings">The config's max_position_embeddings, which YaRN reads; default <paramref name="maxPositions"/>.</param>
    public Rope(int headDim, double theta, int maxPositions, RopeScaling? scaling = null, int? maxPositionEmbeddings = null)
    {
        if (headDim <= 0 || headDim % 2 != 0) throw new ArgumentException($"Rope: head dimension must be positive and even, got {headDim}.");
        if (maxPositions <= 0) throw new ArgumentException($"Rope: max positions must be positive, got {maxPositions}.");
        if (!(theta > 0)) throw new ArgumentException($"Rope: theta must be positive, got {theta}.");
        HeadDim = headDim;
        MaxPositions = maxPositions;
        Theta = theta;
        int half = headDim / 2;
        _cos = new float[maxPositions * half];
        _sin = new float[maxPositions * half];
        var (inverseFrequencies, attentionFactor) = RopeScaling.Frequencies(headDim, theta, scaling, maxPositionEmbeddings ?? maxPositions);
        for (int i = 0; i < half; i++)
        {
            float inverseFrequency = inverseFrequencies[i];
            for (int position = 0; position < maxPositions; position++)
            {
                float angle = position * inverseFrequency;
                _cos[position * half + i] = (float)Math.Cos(angle) * attentionFactor;
                _sin[position * half + i] = (float)Math.Sin(angle) * attentionFactor;
            }
        }
    }

    /// <summary>Cosines for one position, one per rotated pair (headDim/2 values).</summary>
    public ReadOnlySpan<float> Cos(int position) => _cos.AsSpan(CheckPosition(position) * (HeadDim / 2), HeadDim / 2);

    /// <summary>Sines for one position, one per rotated pair (headDim/2 values).</summary>
    public ReadOnlySpan<float> Sin(int position) => _sin.AsSpan(CheckPosition(position) * (HeadDim / 2), HeadDim / 2);

    /// <summary>
    /// Rotates <paramref name="x"/> ([tokens × heads·headDim], row-major) in place; token t is at position
    /// <c>startPosition + t</c>. Products and sums are rounded separately (no FMA), as PyTorch's eager ops.
    /// </summary>
    public void Apply(Span<float> x, int tokens, int heads, int startPosition) => Rotate(x, tokens, heads, startPosition, 1f);

    /// <summary>The inverse (transpose) rotation, which the backward pass applies to gradients.</summary>
    public void ApplyInverse(Span<float> x, int tokens, int heads, int startPosition) => Rotate(x, tokens, heads, startPosition, -1f);

    private void Rotate(Span<float> x, int tokens, int heads, int startPosition, float direction)
    {
        int half = HeadDim / 2, width = heads * HeadDim;
        if (x.Length < (long)tokens * width)
            throw new ArgumentException($"Rope: input has {x.Length} elements, needs {(long)tokens * width} for {tokens} tokens × {heads} heads × {HeadDim}.");
        if (startPosition < 0 || startPosition + tokens > MaxPositions)
            throw new ArgumentException($"Rope: positions {startPosition}..{startPosition + tokens - 1} exceed the table of {MaxPositions} positions (max_position_embeddings).");
        var sign = Vector256.Create(direction);
        for (int t = 0; t < tokens; t++)
        {
            ReadOnlySpan<float> cos = _cos.AsSpan((startPosition + t) * half, half);
            ReadOnlySpan<float> sin = _sin.AsSpan((startPosition + t) * half, half);
            for (int h = 0; h < heads; h++)
            {
                Span<float> head = x.Slice(t * width + h * HeadDim, HeadDim);
                // Eight pairs at a time: each vector operation rounds each lane as the scalar operation does (no FMA).
                int i = 0;
                if (Vector256.IsHardwareAccelerated)
                    for (; i <= half - Vector256<float>.Count; i += Vector256<float>.Count)
                    {
                        var x1 = Vector256.Create<float>(head[i..]);
                        var x2 = Vector256.Create<float>(head[(i + half)..]);
                        var c = Vector256.Create(cos[i..]);
                        var s = sign * Vector256.Create(sin[i..]);
                        (x1 * c - x2 * s).CopyTo(head[i..]);
                        (x2 * c + x1 * s).CopyTo(head[(i + half)..]);
                    }
                RotatePairs(head, cos, sin, direction, i);
            }
        }
    }

    /// <summary>The rotation of pairs <paramref name="from"/> .. half − 1 of one head, one at a time: the vector loop's reference and tail.</summary>
    internal static void RotatePairs(Span<float> head, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin, float direction, int from)
    {
        int half = head.Length / 2;
        for (int i = from; i < half; i++)
        {
            float x1 = head[i], x2 = head[i + half], s = direction * sin[i];
            head[i] = x1 * cos[i] - x2 * s;
            head[i + half] = x2 * cos[i] + x1 * s;
        }
    }

    private int CheckPosition(int position) =>
        (uint)position < (uint)MaxPositions ? position
            : throw new ArgumentOutOfRangeException(nameof(position), $"Rope: position {position} is outside 0..{MaxPositions - 1}.");
}
