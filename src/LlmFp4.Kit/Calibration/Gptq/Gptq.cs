using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Quantization;
using LlmFp4.Kit.Tensors;

namespace LlmFp4.Kit.Calibration;

/// <summary>
/// GPTQ (Frantar et al. 2023, docs/methods.md §10) on an INT or FP weight grid: with H = XᵀX (+ damp·mean(diag H)·I) and U the upper
/// Cholesky factor of H⁻¹, each row is quantized column after column (in order of decreasing diag H with act-order),
/// and the rounding error of column i, (w_i − q_i) / U_ii, is pushed onto the columns still to come through row i of U.
/// The grid (one scale per output channel, or per group, from min-max of the original weights, like "static groups")
/// is fixed before rounding. Inputs with H_jj = 0 are dead: their weights are zeroed, as in the reference.
/// </summary>
/// <remarks>
/// Rows are independent in GPTQ, so this CPU version runs each row through all columns in double precision, rows in
/// parallel. The reference's lazy batch updates over blocks of <see cref="GptqSettings.BlockSize"/> columns reorder
/// the same arithmetic for GPU memory traffic and do not change the result beyond float rounding; the setting is
/// recorded in the config but has no effect here.
/// </remarks>
internal sealed class GptqMethod(GptqSettings settings) : ICalibrationMethod<GptqSettings>
{
    public IEnumerable<LayerCalibration> CalibrateGroup(CalibrationContext context, InputGroup group)
    {
        var config = context.Config;
        var spec = config.Weights!;
        int features = group.Features;
        var hessian = Gptq.Hessian(group.Inputs, group.Tokens, features);
        var input = config.Activations is { } a ? MinMax.ForActivation(a, group.Inputs, group.Tokens, features) : null;
        for (int i = 0; i < group.Layers.Count; i++)
        {
            var layer = group.Layers[i];
            var grid = MinMax.ForMatrix(spec, layer.Weight, layer.OutFeatures, features);
            var quantized = Gptq.Quantize(layer.Weight, layer.OutFeatures, features, hessian, grid, settings);
            yield return context.Layer(group, layer, grid, quantized, input, CalibrationContext.FormatName(spec), CalibrationContext.FormatName(config.Activations));
            context.Report(CalibrationStage.Search, layer.Name, i + 1, group.Layers.Count);
        }
    }
}

/// <summary>The GPTQ rounding itself, shared by the GPTQ method and the GPTQ option of RPTQ and FPTQ.</summary>
internal static class Gptq
{
    /// <summary>GPTQ's layer Hessian XᵀX ([features × features], double) of the inputs X [tokens × features].</summary>
    internal static double[] Hessian(ReadOnlySpan<float> inputs, int tokens, int features)
    {
        var gram = new float[features * features];
        Gemm.MatMul(inputs, inputs, gram, features, features, tokens, transposeA: true);
        return Array.ConvertAll(gram, v => (double)v);
    }

    /// <summary>GPTQ-rounds a [rows × cols] weight onto <paramref name="grid"/> (FP or INT, per row / per group / per tensor) given H = XᵀX [cols × cols].</summary>
    internal static float[] Quantize(float[] weight, int rows, int cols, double[] hessian, TensorQuantizer grid, GptqSettings settings)
    {
        var h = (double[])hessian.Clone();
        var dead = new bool[cols];
        for (int j = 0; j < cols; j++)
            if (h[j * cols + j] == 0)
            {
                h[j * cols + j] = 1;
                dead[j] = true;
            }
        int[] order = Enumerable.Range(0, cols).ToArray();
        if (settings.ActOrder)
            order = [.. order.OrderByDescending(j => h[j * cols + j]).ThenBy(j => j)];
        var permuted = new double[cols * cols];
        double meanDiagonal = 0;
        for (int a = 0; a < cols; a++)
        {
            for (int b = 0; b < cols; b++) permuted[a * cols + b] = h[order[a] * cols + order[b]];
            meanDiagonal += permuted[a * cols + a];
        }
        meanDiagonal /= cols;
        for (int a = 0; a < cols; a++) permuted[a * cols + a] += settings.Damp * meanDiagonal;
        var u = InverseUpperCholesky(permuted, cols);

        var result = new float[rows * cols];
        Parallel.For(0, (rows + 15) / 16, chunk =>
        {
            var w = new double[cols];
            for (int r = chunk * 16; r < Math.Min(rows, chunk * 16 + 16); r++)
            {
                for (int a = 0; a < cols; a++) w[a] = dead[order[a]] ? 0 : weight[r * cols + order[a]];
                for (int a = 0; a < cols; a++)
                {
                    int column = order[a];
                    float q = QuantizeElement(grid, r, column, cols, (float)w[a]);
                    result[r * cols + column] = q;
                    double error = (w[a] - q) / u[a * cols + a];
                    for (int b = a + 1; b < cols; b++) w[b] -= error * u[a * cols + b];
                }
            }
        });
        return result;
    }

    /// <summary>Quantizes element (row, column) of a [· × cols] matrix exactly as the grid's matrix kernel would.</summary>
    internal static float QuantizeElement(TensorQuantizer grid, int row, int column, int cols, float x)
    {
        Span<float> value = [x];
        switch (grid)
        {
            case FpQuantizer fp:
                FakeQuant.Quantize(value, fp.Format, fp.Scales[Slot(fp.Granularity, row, column, cols)], value);
                return value[0];
            case IntQuantizer integer:
                int slot = Slot(integer.Granularity, row, column, cols);
                FakeQuant.Quantize(value, integer.Format, integer.Scales[slot], integer.ZeroPoints.Length == 0 ? 0 : integer.ZeroPoints[slot], value);
                return value[0];
            default:
                throw new ArgumentException($"GPTQ needs a static FP or INT weight grid, got {grid}.");
        }
    }

    private static int Slot(Granularity granularity, int row, int column, int cols) => granularity.Kind switch
    {
        GranularityKind.PerTensor => 0,
        GranularityKind.PerRow => row,
        GranularityKind.PerGroup => row * granularity.GroupsPerRow(cols) + column / granularity.GroupSize,
        _ => throw new ArgumentException($"GPTQ weight grids are per tensor, per row or per group, not {granularity}."),
    };

    /// <summary>The upper-triangular U with UᵀU = A⁻¹ for a symmetric positive definite A [n × n] (row-major).</summary>
    internal static double[] InverseUpperCholesky(double[] a, int n)
    {
        var lower = CholeskyLower(a, n);
        // Inverse of the lower factor, column by column (forward substitution on the identity).
        var inverse = new double[n * n];
        for (int c = 0; c < n; c++)
        {
            inverse[c * n + c] = 1 / lower[c * n + c];
            for (int r = c + 1; r < n; r++)
            {
                double sum = 0;
                for (int k = c; k < r; k++) sum += lower[r * n + k] * inverse[k * n + c];
                inverse[r * n + c] = -sum / lower[r * n + r];
            }
        }
        // A⁻¹ = L⁻ᵀ L⁻¹.
        var aInverse = new double[n * n];
        Parallel.For(0, n, i =>
        {
            for (int j = i; j < n; j++)
            {
                double sum = 0;
                for (int k = j; k < n; k++) sum += inverse[k * n + i] * inverse[k * n + j];
                aInverse[i * n + j] = sum;
                aInverse[j * n + i] = sum;
            }
        });
        var factor = CholeskyLower(aInverse, n);
        var upper = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = i; j < n; j++) upper[i * n + j] = factor[j * n + i];
        return upper;
    }

    private static double[] CholeskyLower(double[] a, int n)
    {
        var l = new double[n * n];
        for (int j = 0; j < n; j++)
        {
            double diagonal = a[j * n + j];
            for (int k = 0; k < j; k++) diagonal -= l[j * n + k] * l[j * n + k];
            if (!(diagonal > 0))
                throw new InvalidOperationException($"GPTQ: the damped Hessian is not positive definite at column {j}; raise gptq.damp.");
            double root = Math.Sqrt(diagonal);
            l[j * n + j] = root;
            for (int i = j + 1; i < n; i++)
            {
                double sum = a[i * n + j];
                for (int k = 0; k < j; k++) sum -= l[i * n + k] * l[j * n + k];
                l[i * n + j] = sum / root;
            }
        }
        return l;
    }
}
