using System.Numerics.Tensors;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Calibration;

/// <summary>
/// The candidate scoring of <see cref="FpqSearch"/>: the output error of a layer for every weight or activation candidate,
/// without a GEMM over all tokens per candidate (the algebra is in <see cref="FpqSearch"/>'s remarks). The round driver
/// asks it for one phase at a time; the activation candidates' Gram matrices are cached across phases and rounds.
/// </summary>
internal sealed class GramScorer
{
    /// <summary>Largest total size of the per-candidate activation Grams kept across rounds.</summary>
    public const long GramCacheBytes = 384L << 20;

    private readonly InputGroup _group;
    private readonly ActivationGrid[] _grids;
    private readonly int _tokens, _in;
    private readonly Dictionary<(int Format, int Index), CandidateGrams> _candidateGrams = [];
    private readonly bool _useActivationGrams;
    private float[]? _inputGram;
    private float[]? _delta;

    /// <summary>
    /// Scoring for <paramref name="group"/> with the activation candidates of <paramref name="grids"/>;
    /// <paramref name="activationGrams"/> forces the activation phase onto the Gram (true) or the direct (false)
    /// evaluation, null picks by cost and memory (a wide input feeding a narrow layer, such as down_proj, goes direct).
    /// </summary>
    public GramScorer(InputGroup group, ActivationGrid[] grids, int candidates, int rounds, bool? activationGrams)
    {
        _group = group;
        _grids = grids;
        _tokens = group.Tokens;
        _in = group.Features;
        long gramBytes = 2L * grids.Length * candidates * _in * _in * sizeof(float);
        int outputs = group.Layers.Sum(l => l.OutFeatures);
        _useActivationGrams = activationGrams ?? (gramBytes <= GramCacheBytes && 2L * _in <= (long)rounds * outputs);
    }

    /// <summary>ΔᵀΔ and XᵀΔ of one activation candidate (Δ = X̂ − X).</summary>
    private sealed record CandidateGrams(float[] ErrorGram, float[] InputErrorGram);

    // ------------------------------------------------------------------ weight phase

    /// <summary>
    /// The weight phase of a [<paramref name="rows"/> × in] <paramref name="weight"/> with the input quantized by
    /// activation candidate <paramref name="activation"/> (null: the input in full precision).
    /// </summary>
    public WeightPhase BeginWeightPhase(float[] weight, int rows, (int Format, int Index)? activation)
    {
        int cols = _in;
        float[] quantizedGram;
        float[]? crossGram = null, errorGram = null;
        if (activation is not { } a)
        {
            quantizedGram = InputGram();
        }
        else
        {
            // X̂ᵀX̂ = XᵀX + XᵀΔ + ΔᵀX + ΔᵀΔ and X̂ᵀΔ = XᵀΔ + ΔᵀΔ. The starting point and the chosen candidates are few: keep them whatever the path.
            var grams = GramsOf(a.Format, a.Index, Delta, keep: true);
            var inputGram = InputGram();
            quantizedGram = new float[_in * _in];
            crossGram = new float[_in * _in];
            for (int i = 0; i < _in; i++)
                for (int j = 0; j < _in; j++)
                {
                    float xd = grams.InputErrorGram[i * _in + j], dx = grams.InputErrorGram[j * _in + i], dd = grams.ErrorGram[i * _in + j];
                    quantizedGram[i * _in + j] = inputGram[i * _in + j] + xd + dx + dd;
                    crossGram[i * _in + j] = xd + dd;
                }
            errorGram = grams.ErrorGram;
        }

        // Per row: ‖Δ w_j‖² and (X̂ᵀΔ) w_j, fixed for this phase.
        var rowConstant = new double[rows];
        var cross = new float[rows * cols];
        if (crossGram is not null && errorGram is not null)
        {
            Gemm.MatMul(weight, crossGram, cross, rows, cols, cols, transposeB: true);
            var errorTimesW = new float[rows * cols];
            Gemm.MatMul(weight, errorGram, errorTimesW, rows, cols, cols);
            for (int r = 0; r < rows; r++)
                rowConstant[r] = DoubleSums.Dot(errorTimesW.AsSpan(r * cols, cols), weight.AsSpan(r * cols, cols));
        }
        return new WeightPhase(weight, rows, cols, quantizedGram, cross, rowConstant);
    }

    /// <summary>One weight phase: scores weight candidates against a fixed quantized input.</summary>
    internal sealed class WeightPhase(float[] weight, int rows, int cols, float[] quantizedGram, float[] cross, double[] rowConstant)
    {
        private readonly float[] _difference = new float[rows * cols];
        private readonly float[] _product = new float[rows * cols];

        /// <summary>Σ over tokens of (O − Ô)² per output row, for the weight quantized with <paramref name="format"/> at per-row <paramref name="scales"/>.</summary>
        public void RowErrors(FpFormat format, float[] scales, double[] rowErrors)
        {
            FpQuantizer.QuantizeMatrix(weight, rows, cols, format, Granularity.PerRow, scales, _difference);
            TensorPrimitives.Subtract(_difference, weight, _difference);
            Gemm.MatMul(_difference, quantizedGram, _product, rows, cols, cols);
            // errors[j] = constant[j] + 2·d_j·cross_j + d_j·(D H)_j, for every row j (in parallel over fixed row chunks).
            Parallel.For(0, (rows + 63) / 64, chunk =>
            {
                for (int r = chunk * 64; r < Math.Min(rows, chunk * 64 + 64); r++)
                {
                    var d = _difference.AsSpan(r * cols, cols);
                    rowErrors[r] = rowConstant[r] + 2 * DoubleSums.Dot(d, cross.AsSpan(r * cols, cols)) + DoubleSums.Dot(d, _product.AsSpan(r * cols, cols));
                }
            });
        }
    }

    // ------------------------------------------------------------------ activation phase

    /// <summary>The activation phase of layers with full-precision and quantized weights (each [outs × in]).</summary>
    public ActivationPhase BeginActivationPhase(IReadOnlyList<(float[] Weight, float[] Quantized, int Outputs)> layers) => new(this, layers);

    /// <summary>One activation phase: scores activation candidates against fixed quantized weights.</summary>
    internal sealed class ActivationPhase
    {
        private readonly GramScorer _scorer;
        private readonly IReadOnlyList<(float[] Weight, float[] Quantized, int Outputs)> _layers;
        private readonly Terms[] _terms;
        private readonly float[]? _output;

        private sealed class Terms
        {
            public required float[] Quantized;     // Ŵ
            public float[]? WeightGram;            // ŴᵀŴ (Gram path)
            public float[]? Mixed;                 // DᵀŴ (Gram path)
            public double Constant;                // ⟨XᵀX, DᵀD⟩ (Gram path)
            public float[]? Residual;              // X·Dᵀ (direct path)
        }

        public ActivationPhase(GramScorer scorer, IReadOnlyList<(float[] Weight, float[] Quantized, int Outputs)> layers)
        {
            _scorer = scorer;
            _layers = layers;
            _terms = [.. layers.Select(l => Prepare(l.Weight, l.Quantized, l.Outputs))];
            _output = scorer._useActivationGrams ? null : new float[scorer._tokens * layers.Max(l => l.Outputs)];
        }

        /// <summary>The terms of one layer that do not depend on the activation candidate.</summary>
        private Terms Prepare(float[] weight, float[] quantized, int outs)
        {
            var s = _scorer;
            int n = s._in;
            var difference = new float[quantized.Length];
            TensorPrimitives.Subtract(quantized, weight, difference);
            var terms = new Terms { Quantized = quantized };
            if (s._useActivationGrams)
            {
                terms.WeightGram = new float[n * n];
                Gemm.MatMul(quantized, quantized, terms.WeightGram, n, n, outs, transposeA: true);
                var differenceGram = new float[n * n];
                Gemm.MatMul(difference, difference, differenceGram, n, n, outs, transposeA: true);
                terms.Constant = DoubleSums.Dot(s.InputGram(), differenceGram);
                terms.Mixed = new float[n * n];
                Gemm.MatMul(difference, quantized, terms.Mixed, n, n, outs, transposeA: true);
            }
            else
            {
                terms.Residual = new float[s._tokens * outs];
                Gemm.MatMul(s._group.Inputs, difference, terms.Residual, s._tokens, outs, n, transposeB: true);
            }
            return terms;
        }

        /// <summary>mean((O − Ô)²) of every layer for activation candidate (<paramref name="format"/>, <paramref name="index"/>).</summary>
        public void Errors(int format, int index, double[] errors)
        {
            var s = _scorer;
            var delta = s.Delta;
            CandidateGrams? grams = null;
            if (s._useActivationGrams) grams = s.GramsOf(format, index, delta, keep: false);
            else s.QuantizationError(format, index, delta);
            for (int l = 0; l < _layers.Count; l++)
            {
                var t = _terms[l];
                int outs = _layers[l].Outputs;
                double error;
                if (grams is not null)
                {
                    error = t.Constant + 2 * DoubleSums.Dot(grams.InputErrorGram, t.Mixed!) + DoubleSums.Dot(grams.ErrorGram, t.WeightGram!);
                }
                else
                {
                    var z = _output!.AsSpan(0, s._tokens * outs);
                    Gemm.MatMul(delta, t.Quantized, z, s._tokens, outs, s._in, transposeB: true);
                    error = DoubleSums.SumOfSquaredSumsParallel(t.Residual!, z);
                }
                errors[l] = error / ((double)s._tokens * outs);
            }
        }
    }

    // ------------------------------------------------------------------ helpers

    /// <summary>
    /// The candidate's Grams: from the cache, or computed from its Δ (quantized into <paramref name="delta"/>, which then
    /// holds Δ). Kept for the rest of the search when the Gram path is on, or when <paramref name="keep"/>.
    /// </summary>
    private CandidateGrams GramsOf(int format, int index, float[] delta, bool keep)
    {
        if (_candidateGrams.TryGetValue((format, index), out var cached)) return cached;
        QuantizationError(format, index, delta);
        var grams = new CandidateGrams(Gram(delta), CrossGram(_group.Inputs, delta));
        if (_useActivationGrams || keep) _candidateGrams[(format, index)] = grams;
        return grams;
    }

    private float[] InputGram() => _inputGram ??= Gram(_group.Inputs);

    /// <summary>Scratch [tokens × in] for one candidate's Δ.</summary>
    private float[] Delta => _delta ??= new float[_tokens * _in];

    private float[] Gram(float[] matrix)
    {
        var gram = new float[_in * _in];
        Gemm.MatMul(matrix, matrix, gram, _in, _in, _tokens, transposeA: true);
        return gram;
    }

    private float[] CrossGram(float[] left, float[] right)
    {
        var gram = new float[_in * _in];
        Gemm.MatMul(left, right, gram, _in, _in, _tokens, transposeA: true);
        return gram;
    }

    /// <summary>Δ = Q(X) − X for activation candidate (format, index), into <paramref name="delta"/>.</summary>
    private void QuantizationError(int format, int index, float[] delta)
    {
        _grids[format].Quantizer(index).Apply(_group.Inputs, delta, _tokens, _in);
        TensorPrimitives.Subtract(delta, _group.Inputs, delta);
    }
}
