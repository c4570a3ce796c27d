using System.Numerics.Tensors;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Calibration;

/// <summary>
/// The weight-candidate scoring of <see cref="FpqSearch"/>: the output error of every row of a layer for every weight
/// candidate, through Gram matrices of the input instead of a GEMM over all tokens per candidate (the algebra is in
/// <see cref="FpqSearch"/>'s remarks). The Grams of the activation settings the weight phases ran at are kept for the
/// rest of the group's search.
/// </summary>
internal sealed class GramScorer
{
    private readonly InputGroup _group;
    private readonly ActivationGrid[] _grids;
    private readonly int _tokens, _in;
    private readonly Dictionary<(int Format, int Index), CandidateGrams> _candidateGrams = [];
    private float[]? _inputGram;
    private float[]? _delta;

    /// <summary>Scoring for <paramref name="group"/> with the activation candidates of <paramref name="grids"/>.</summary>
    public GramScorer(InputGroup group, ActivationGrid[] grids)
    {
        _group = group;
        _grids = grids;
        _tokens = group.Tokens;
        _in = group.Features;
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
            // X̂ᵀX̂ = XᵀX + XᵀΔ + ΔᵀX + ΔᵀΔ and X̂ᵀΔ = XᵀΔ + ΔᵀΔ.
            var grams = GramsOf(a.Format, a.Index);
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

        // Per row: ‖Δ w_j‖², fixed for this phase.
        var rowConstant = new double[rows];
        if (errorGram is not null)
        {
            var errorTimesW = new float[rows * cols];
            Gemm.MatMul(weight, errorGram, errorTimesW, rows, cols, cols);
            for (int r = 0; r < rows; r++)
                rowConstant[r] = DoubleSums.Dot(errorTimesW.AsSpan(r * cols, cols), weight.AsSpan(r * cols, cols));
        }
        return new WeightPhase(weight, rows, cols, quantizedGram, crossGram, rowConstant);
    }

    /// <summary>
    /// One weight phase: scores weight candidates against a fixed quantized input. Formats with few grid values at many
    /// candidates go through <see cref="WeightCodeSweep"/>, together; the others through dense products, format by format,
    /// <see cref="Batch"/> candidates per product: their differences D are stacked into one [batch·rows × in] matrix times
    /// the [in × in] Gram, since a 256-row product kept the two cores only partly busy (232 GFLOP/s at 256 × 256 × 256
    /// against 359 at 4096 × 256 × 256). Every row of the product sums in the same order however many rows it has, so the
    /// errors do not depend on the batch.
    /// </summary>
    internal sealed class WeightPhase(float[] weight, int rows, int cols, float[] quantizedGram, float[]? crossGram, double[] rowConstant)
    {
        /// <summary>Rows of a stacked product worth making: from here on the GEMM keeps every core busy.</summary>
        private const int StackedRows = 2048;

        /// <summary>Floats of one stacked buffer at most, so that a batch never costs much memory.</summary>
        private const long StackedFloats = 1L << 22;

        /// <summary>Candidates scored per dense product: enough to stack about <see cref="StackedRows"/> rows, within <see cref="StackedFloats"/>.</summary>
        public int Batch { get; } = (int)Math.Max(1, Math.Min((StackedRows + rows - 1) / rows, StackedFloats / ((long)rows * cols)));

        private float[] _difference = [];
        private float[] _product = [];
        private float[]? _cross;

        /// <summary>
        /// Σ over tokens of (O − Ô)² per output row into <paramref name="rowErrors"/>[format][candidate][row], for the
        /// weight quantized with each of <paramref name="formats"/> at each candidate's per-row scales,
        /// <paramref name="scales"/>[format][candidate] (in the grid's order). <paramref name="sweep"/> chooses the method
        /// (null: <see cref="WeightCodeSweep.Pays"/> does, format by format).
        /// </summary>
        public void RowErrors(IReadOnlyList<FpFormat> formats, IReadOnlyList<IReadOnlyList<float[]>> scales, double[][][] rowErrors, bool? sweep = null)
        {
            if (scales.Count != formats.Count || rowErrors.Length < formats.Count
                || Enumerable.Range(0, formats.Count).Any(f => scales[f].Count == 0 || rowErrors[f].Length < scales[f].Count))
                throw new ArgumentException("RowErrors: per format, at least one candidate, with one row-error array each.");
            int[] swept = [.. Enumerable.Range(0, formats.Count).Where(f => sweep ?? WeightCodeSweep.Pays(formats[f], scales[f].Count))];
            if (swept.Length > 0)
                new WeightCodeSweep(weight, rows, cols, quantizedGram, crossGram, rowConstant)
                    .RowErrors([.. swept.Select(f => formats[f])], [.. swept.Select(f => scales[f])], [.. swept.Select(f => rowErrors[f])]);
            foreach (int f in Enumerable.Range(0, formats.Count).Except(swept))
                for (int first = 0; first < scales[f].Count; first += Batch)
                {
                    int batch = Math.Min(Batch, scales[f].Count - first);
                    DenseRowErrors(formats[f], [.. scales[f].Skip(first).Take(batch)], rowErrors[f].AsSpan(first, batch));
                }
        }

        /// <summary>Dense scoring of at most <see cref="Batch"/> candidates in one stacked product.</summary>
        private void DenseRowErrors(FpFormat format, float[][] scales, Span<double[]> rowErrors)
        {
            int batch = scales.Length, size = rows * cols;
            if (_difference.Length < batch * size)
            {
                _difference = new float[Batch * size];
                _product = new float[Batch * size];
            }
            // (X̂ᵀΔ) w_j per row, fixed for this phase.
            if (_cross is null)
            {
                _cross = new float[rows * cols];
                if (crossGram is not null) Gemm.MatMul(weight, crossGram, _cross, rows, cols, cols, transposeB: true);
            }
            Parallel.For(0, batch, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, c =>
            {
                var difference = _difference.AsSpan(c * size, size);
                FpQuantizer.QuantizeMatrix(weight, rows, cols, format, Granularity.PerRow, scales[c], difference);
                TensorPrimitives.Subtract(difference, weight, difference);
            });
            Gemm.MatMul(_difference, quantizedGram, _product, batch * rows, cols, cols);
            var cross = _cross;
            var errors = rowErrors.ToArray();
            // errors[j] = constant[j] + 2·d_j·cross_j + d_j·(D H)_j, for every row j (in parallel over fixed row chunks).
            Parallel.For(0, (batch * rows + 63) / 64, chunk =>
            {
                for (int stacked = chunk * 64; stacked < Math.Min(batch * rows, chunk * 64 + 64); stacked++)
                {
                    int r = stacked % rows;
                    var d = _difference.AsSpan(stacked * cols, cols);
                    errors[stacked / rows][r] = rowConstant[r] + 2 * DoubleSums.Dot(d, cross.AsSpan(r * cols, cols))
                        + DoubleSums.Dot(d, _product.AsSpan(stacked * cols, cols));
                }
            });
        }
    }

    // ------------------------------------------------------------------ helpers

    /// <summary>The candidate's Grams: from the cache, or computed from its Δ and kept (the starting point and the chosen candidates are few).</summary>
    private CandidateGrams GramsOf(int format, int index)
    {
        if (_candidateGrams.TryGetValue((format, index), out var cached)) return cached;
        var delta = Delta;
        QuantizationError(format, index, delta);
        var grams = new CandidateGrams(Gram(delta), CrossGram(_group.Inputs, delta));
        _candidateGrams[(format, index)] = grams;
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
