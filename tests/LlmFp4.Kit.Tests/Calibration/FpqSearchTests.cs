using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Quantization;
using static LlmFp4.Kit.Tests.Calibration.CalibrationTestData;

namespace LlmFp4.Kit.Tests.Calibration;

public class FpqSearchTests
{
    private const int Tokens = 96, In = 16;

    private static (InputGroup Group, LinearLayer[] Layers) Group()
    {
        // c has more outputs than twice its inputs, so the activation sweep scores it through its narrowed equivalent.
        LinearLayer[] layers = [new("a", In, 8, RandomMatrix(8, In, 1)), new("b", In, 24, RandomMatrix(24, In, 2, 0.05)), new("c", In, 40, RandomMatrix(40, In, 4, 0.2))];
        var group = new InputGroup("test_input", layers) { Tokens = Tokens, Inputs = OutlierInputs(Tokens, In, 3) };
        return (group, layers);
    }

    private static readonly SearchSettings Grid = new() { Steps = 12, Rounds = 1 };

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Algebraic_errors_equal_the_direct_layer_mse_and_pick_the_same_candidates(bool preShifted)
    {
        var (group, layers) = Group();
        var weights = QuantSpec.Fp(4, Granularity.PerRow);
        var activations = QuantSpec.Fp(4, preShifted ? Granularity.PerColumn : Granularity.PerTensor);
        var results = new FpqSearch(group, weights, activations, Grid, preShifted).Run();
        var multipliers = Grid.Multipliers();
        var activationFormats = activations.SearchFormats;
        int start = activationFormats.ToList().FindIndex(f => f.ExponentBits == 2);
        var startInput = new ActivationGrid(activationFormats[start], group.Inputs, Tokens, In, multipliers, preShifted).Quantizer(-1);

        foreach (var (layer, result) in layers.Zip(results))
        {
            var round = Assert.Single(result.Trace.Rounds);
            int rows = layer.OutFeatures;

            // Weight phase: every candidate of every format, with the starting activation quantizer.
            for (int f = 0; f < weights.SearchFormats.Count; f++)
            {
                var format = weights.SearchFormats[f];
                var startBias = Ranges.RowBiases(format, layer.Weight, rows, In);
                var perRow = new double[multipliers.Length][];
                for (int i = 0; i < multipliers.Length; i++)
                {
                    var quantized = FpQuantizer.PerRow(format, [.. startBias.Select(b => multipliers[i] * b)]).Quantize(layer.Weight, rows, In);
                    perRow[i] = new double[rows];
                    double direct = DirectMse(group.Inputs, Tokens, In, layer.Weight, rows, startInput, quantized, perRow[i]);
                    Assert.Equal(direct, round.Weight[f].Errors[i], direct * 1e-4);
                }
                if (format == result.WeightFormat)
                    for (int r = 0; r < rows; r++)
                    {
                        int best = Enumerable.Range(0, multipliers.Length).MinBy(i => perRow[i][r]);
                        Assert.Equal(multipliers[best] * startBias[r], result.WeightBiases![r], 12);
                    }
            }

            // Activation phase: every candidate against the weights the weight phase chose.
            var chosenWeight = FpQuantizer.PerRow(result.WeightFormat!, result.WeightBiases!).Quantize(layer.Weight, rows, In);
            for (int f = 0; f < activationFormats.Count; f++)
            {
                var grid = new ActivationGrid(activationFormats[f], group.Inputs, Tokens, In, multipliers, preShifted);
                var direct = Enumerable.Range(0, multipliers.Length)
                    .Select(i => DirectMse(group.Inputs, Tokens, In, layer.Weight, rows, grid.Quantizer(i), chosenWeight)).ToArray();
                for (int i = 0; i < direct.Length; i++)
                    Assert.Equal(direct[i], round.Activation[f].Errors[i], direct[i] * 1e-4);
                Assert.Equal(Array.IndexOf(direct, direct.Min()), round.Activation[f].BestIndex);
            }
            var chosen = round.Activation.MinBy(c => c.BestError)!;
            Assert.Equal(chosen.Format, round.ActivationFormat);
            Assert.Equal(chosen.BestError, DirectMse(group.Inputs, Tokens, In, layer.Weight, rows, result.InputQuantizer, chosenWeight), chosen.BestError * 1e-4);
        }
    }

    [Theory]
    [InlineData(16)]
    [InlineData(32)]
    public void Sweep_curves_do_not_depend_on_the_output_tile_width(int tileWidth)
    {
        // Layers of 8, 24 and 32 (c narrowed) outputs: tiles of 16 split b and c and leave tails of 8 behind whole blocks.
        var (group, layers) = Group();
        var weights = layers.Select(l => (l.Weight, FpQuantizer.PerRow(FpFormat.E2M1, [.. Enumerable.Repeat(1.5, l.OutFeatures)]).Quantize(l.Weight, l.OutFeatures, In), l.OutFeatures)).ToList();
        var multipliers = Grid.Multipliers();
        ActivationGrid[] grids = [.. new[] { false, true }.Select(preShifted => new ActivationGrid(FpFormat.E2M1, group.Inputs, Tokens, In, multipliers, preShifted))];
        var oneTilePerLayer = new ActivationSweep(group, weights).Errors(grids, multipliers.Length);
        var tiled = new ActivationSweep(group, weights, tileWidth).Errors(grids, multipliers.Length);
        Assert.Equal(oneTilePerLayer, tiled);
        // Sweeping the grids together shares each chunk's reference product; each grid's curves are those of its own sweep.
        for (int f = 0; f < grids.Length; f++)
            Assert.Equal(new ActivationSweep(group, weights, tileWidth).Errors([grids[f]], multipliers.Length)[0], tiled[f]);
        Assert.Throws<ArgumentOutOfRangeException>(() => new ActivationSweep(group, weights, 24));
    }

    [Fact]
    public void Sweep_curves_are_the_same_with_the_products_in_registers_and_in_memory()
    {
        // In = 80: a dense layer of 144 outputs and one of 200 narrowed to 160, of which the triangle's 80 are scored. Tiles
        // of 16 keep every product in memory; the default tile (160) and tiles of 64 hold whole blocks of 64 in registers
        // and leave 16 of each layer to memory.
        const int inFeatures = 80;
        LinearLayer[] layers = [new("dense", inFeatures, 144, RandomMatrix(144, inFeatures, 5)), new("narrowed", inFeatures, 200, RandomMatrix(200, inFeatures, 6, 0.1))];
        var group = new InputGroup("wide_input", layers) { Tokens = Tokens, Inputs = OutlierInputs(Tokens, inFeatures, 7) };
        var weights = layers.Select(l => (l.Weight, FpQuantizer.PerRow(FpFormat.E2M1, [.. Enumerable.Repeat(1.5, l.OutFeatures)]).Quantize(l.Weight, l.OutFeatures, inFeatures), l.OutFeatures)).ToList();
        var multipliers = Grid.Multipliers();
        ActivationGrid[] grids = [.. new[] { false, true }.Select(preShifted => new ActivationGrid(FpFormat.E2M1, group.Inputs, Tokens, inFeatures, multipliers, preShifted))];
        var inMemory = new ActivationSweep(group, weights, 16).Errors(grids, multipliers.Length);
        Assert.Equal(inMemory, new ActivationSweep(group, weights).Errors(grids, multipliers.Length));
        Assert.Equal(inMemory, new ActivationSweep(group, weights, 64).Errors(grids, multipliers.Length));
    }

    [Fact]
    public void Dense_steps_add_exactly_what_the_change_lists_add()
    {
        // Inputs of at most 1/4 (as in the kept-lists test) make a 4-bit grid change from none to most of them per candidate
        // step, so the groups of four tokens take some steps as dense rows and others as lists; the 8-bit grid changes
        // nearly all. In = 80 with a dense layer of 144 outputs and a narrowed one (the triangle); 90 tokens are chunks of
        // 64 and 26, whose last two tokens fall outside a group. Tiles of 16 add every change through the lists in memory.
        const int inFeatures = 80, tokens = 90;
        LinearLayer[] layers = [new("dense", inFeatures, 144, RandomMatrix(144, inFeatures, 8)), new("narrowed", inFeatures, 200, RandomMatrix(200, inFeatures, 9, 0.1))];
        var group = new InputGroup("wide_input", layers) { Tokens = tokens, Inputs = [.. OutlierInputs(tokens, inFeatures, 10).Select(v => v / 64)] };
        var weights = layers.Select(l => (l.Weight, FpQuantizer.PerRow(FpFormat.E2M1, [.. Enumerable.Repeat(1.5, l.OutFeatures)]).Quantize(l.Weight, l.OutFeatures, inFeatures), l.OutFeatures)).ToList();
        var multipliers = Grid.Multipliers();
        ActivationGrid[] grids = [.. new[] { FpFormat.Create(2, 1, 0), FpFormat.Create(3, 0, 0), FpFormat.Create(4, 3, 0) }.SelectMany(format => new[] { false, true }
            .Select(preShifted => new ActivationGrid(format, group.Inputs, tokens, inFeatures, multipliers, preShifted)))];
        var shares = grids.SelectMany(grid => Enumerable.Range(1, multipliers.Length - 1).Select(i =>
        {
            var before = grid.Quantizer(i - 1).Quantize(group.Inputs, tokens, inFeatures);
            var after = grid.Quantizer(i).Quantize(group.Inputs, tokens, inFeatures);
            return (double)before.Zip(after).Count(p => p.First != p.Second) / before.Length;
        })).ToArray();
        Assert.Contains(shares, share => share > 0.9);
        Assert.Contains(shares, share => share is > 0.2 and < 0.5);
        Assert.Contains(shares, share => share < 0.05);

        var inMemory = new ActivationSweep(group, weights, 16).Errors(grids, multipliers.Length);
        Assert.Equal(inMemory, new ActivationSweep(group, weights).Errors(grids, multipliers.Length));
        Assert.Equal(inMemory, new ActivationSweep(group, weights, 64).Errors(grids, multipliers.Length));
        // Every step with a change dense, and only steps that change every input.
        Assert.Equal(inMemory, new ActivationSweep(group, weights, denseShare: int.MaxValue).Errors(grids, multipliers.Length));
        Assert.Equal(inMemory, new ActivationSweep(group, weights, denseShare: 1).Errors(grids, multipliers.Length));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ActivationSweep(group, weights, denseShare: 0));
    }

    [Fact]
    public void Kept_change_lists_give_the_curves_of_listing_again_with_any_budget()
    {
        var (group, layers) = Group();
        // Inputs of at most 1/4 start at an exponent bias near 6, so the multipliers move the scale over a factor of about
        // 2^7 and a value changes several times after the first candidate: each change must start from the last one.
        group.Inputs = [.. group.Inputs.Select(v => v / 64)];
        var multipliers = Grid.Multipliers();
        int count = multipliers.Length;
        List<(float[], float[], int)> QuantizedAt(double bias) =>
            [.. layers.Select(l => (l.Weight, FpQuantizer.PerRow(FpFormat.E2M1, [.. Enumerable.Repeat(bias, l.OutFeatures)]).Quantize(l.Weight, l.OutFeatures, In), l.OutFeatures))];
        foreach (bool preShifted in new[] { false, true })
        {
            var grid = new ActivationGrid(FpFormat.E2M1, group.Inputs, Tokens, In, multipliers, preShifted);
            // Round one keeps its lists; round two sweeps other weights with lists rebuilt from what was kept.
            // A third of the values change per candidate here, more than the default share allows: keep at any share.
            var everything = new KeptChanges(long.MaxValue, maxChangeShare: 1);
            Assert.Equal(new ActivationSweep(group, QuantizedAt(1.5)).Errors([grid], count), new ActivationSweep(group, QuantizedAt(1.5), kept: everything).Errors([grid], count));
            Assert.True(everything.KeptBytes > 0);
            var listedAgain = new ActivationSweep(group, QuantizedAt(2.5)).Errors([grid], count);
            Assert.Equal(listedAgain, new ActivationSweep(group, QuantizedAt(2.5), kept: everything).Errors([grid], count));

            // The chunks hold 64 and 32 tokens: three quarters of the bytes keep one of them, whichever comes first.
            var part = new KeptChanges(everything.KeptBytes * 3 / 4, maxChangeShare: 1);
            new ActivationSweep(group, QuantizedAt(1.5), kept: part).Errors([grid], count);
            Assert.InRange(part.KeptBytes, 1, everything.KeptBytes - 1);
            Assert.Equal(listedAgain, new ActivationSweep(group, QuantizedAt(2.5), kept: part).Errors([grid], count));
            Assert.Null(everything.Find(grid, 0, count - 1));
        }
    }

    [Fact]
    public void Lists_with_too_many_changes_are_not_kept_and_their_grid_is_no_longer_wanted()
    {
        var (group, _) = Group();
        var grid = new ActivationGrid(FpFormat.E2M1, group.Inputs, Tokens, In, Grid.Multipliers(), true);
        var kept = new KeptChanges(long.MaxValue);
        // 4 tokens × 16 inputs, 3 candidates: two lists of changes per token after candidate 0, at most 1/8 of 128 values.
        int allowed = (int)(KeptChanges.MaxChangeShare * 4 * 16 * 2);
        Assert.True(kept.Wants(grid));
        kept.Keep(grid, 0, 3, 4 * 16, new int[9], new ushort[allowed], new float[allowed]);
        Assert.NotNull(kept.Find(grid, 0, 3));
        kept.Keep(grid, 1, 3, 4 * 16, new int[9], new ushort[allowed + 1], new float[allowed + 1]);
        Assert.Null(kept.Find(grid, 1, 3));
        Assert.False(kept.Wants(grid));
    }

    [Fact]
    public void Weight_candidates_score_the_same_one_at_a_time_and_stacked()
    {
        var (group, layers) = Group();
        var multipliers = Grid.Multipliers();
        var grids = new[] { new ActivationGrid(FpFormat.E2M1, group.Inputs, Tokens, In, multipliers, true) };
        var layer = layers[1];
        int rows = layer.OutFeatures;
        var phase = new GramScorer(group, grids).BeginWeightPhase(layer.Weight, rows, (0, 3));
        Assert.True(phase.Batch >= multipliers.Length);
        var startBias = Ranges.RowBiases(FpFormat.E2M1, layer.Weight, rows, In);
        var scales = multipliers.Select(m => startBias.Select(b => FpQuantizer.BiasScale(FpFormat.E2M1, m * b)).ToArray()).ToArray();

        var stacked = scales.Select(_ => new double[rows]).ToArray();
        phase.RowErrors([FpFormat.E2M1], [scales], [stacked], sweep: false);
        for (int i = 0; i < scales.Length; i++)
        {
            var single = new[] { new double[rows] };
            phase.RowErrors([FpFormat.E2M1], [[scales[i]]], [single], sweep: false);
            Assert.Equal(single[0], stacked[i]);
        }
        Assert.Throws<ArgumentException>(() => phase.RowErrors([FpFormat.E2M1], [[]], [stacked]));
    }

    [Fact]
    public void Pre_shifted_offsets_are_the_rounded_distance_to_the_shared_bias()
    {
        var (group, _) = Group();
        var format = FpFormat.Create(2, 1, 0);
        var grid = new ActivationGrid(format, group.Inputs, Tokens, In, Grid.Multipliers(), preShifted: true);
        var channelMax = Ranges.ColumnAbsMax(group.Inputs, Tokens, In);
        var channelBias = channelMax.Select(m => format.BiasForMaxValue(m)).ToArray();
        Assert.Equal(channelBias.Min(), grid.StartBias, 12);
        var offsets = grid.Offsets(grid.StartBias);
        for (int j = 0; j < In; j++)
            Assert.Equal(Math.Clamp(Math.Round(channelBias[j] - grid.StartBias), 0, 3), offsets[j]);
        Assert.Contains(offsets, o => o > 0);
        Assert.Contains(0, offsets);
    }

    [Fact]
    public void Weight_only_search_stops_after_one_round_and_rounds_repeat_nothing()
    {
        var (group, layers) = Group();
        var results = new FpqSearch(group, QuantSpec.Fp(4, Granularity.PerRow), null, Grid with { Rounds = 3 }, false).Run();
        foreach (var result in results)
        {
            Assert.Equal(1, result.Trace.ConvergedAfterRound);
            Assert.Single(result.Trace.Rounds);
            Assert.Null(result.InputQuantizer);
        }

        var full = new FpqSearch(group, QuantSpec.Fp(4, Granularity.PerRow), QuantSpec.Fp(4, Granularity.PerTensor), Grid with { Rounds = 3 }, false).Run();
        var once = new FpqSearch(group, QuantSpec.Fp(4, Granularity.PerRow), QuantSpec.Fp(4, Granularity.PerTensor), Grid with { Rounds = 1 }, false).Run();
        foreach (var (threeRounds, oneRound) in full.Zip(once))
        {
            Assert.True(threeRounds.Trace.Rounds.Count <= 3);
            Assert.Equal(oneRound.Trace.Rounds[0].Weight.Select(c => c.Errors), threeRounds.Trace.Rounds[0].Weight.Select(c => c.Errors));
            // The alternation never makes the chosen activation setting worse than round 1's.
            Assert.True(threeRounds.Trace.Rounds[^1].Activation.Min(c => c.BestError) <= oneRound.Trace.Rounds[0].Activation.Min(c => c.BestError) * (1 + 1e-5));
        }
    }

    [Theory]
    [InlineData(4, false, true, true)]
    [InlineData(4, true, true, true)]
    [InlineData(5, false, true, true)]
    [InlineData(6, true, true, true)]
    [InlineData(4, false, true, false)]
    [InlineData(4, true, false, true)]
    [InlineData(4, false, true, true, 40)]
    [InlineData(4, false, true, false, 40)]
    [InlineData(5, false, true, true, 80)]
    public void Fast_search_chooses_the_formats_and_biases_of_the_reference_search(int bits, bool preShifted, bool searchWeights, bool searchActivations, int steps = 12)
    {
        var (group, _) = Group();
        var weights = searchWeights ? QuantSpec.Fp(bits, Granularity.PerRow) : null;
        var activations = searchActivations ? QuantSpec.Fp(bits, preShifted ? Granularity.PerColumn : Granularity.PerTensor) : null;
        // 41 candidates: 4-bit weights go through WeightCodeSweep (81: 5-bit ones too), 13 through the dense products.
        var settings = new SearchSettings { Steps = steps, Rounds = 3 };
        var fast = new FpqSearch(group, weights, activations, settings, preShifted).Run();
        var reference = ReferenceFpqSearch.Run(group, weights, activations, settings, preShifted);
        Assert.Equal(reference.Count, fast.Count);
        foreach (var (expected, actual) in reference.Zip(fast))
        {
            Assert.Equal(expected.WeightFormat, actual.WeightFormat);
            Assert.Equal(expected.WeightBiases, actual.WeightBiases);
            Assert.Equal(expected.ActivationFormat, actual.ActivationFormat);
            Assert.Equal(expected.ActivationBias, actual.ActivationBias);
            Assert.Equal(expected.ActivationOffsets, actual.ActivationOffsets);
            // Each round the fast search ran chose what the reference chose in that round.
            foreach (var (e, a) in expected.Trace.Rounds.Zip(actual.Trace.Rounds))
                Assert.Equal((e.WeightFormat, e.ActivationFormat), (a.WeightFormat, a.ActivationFormat));
        }
    }
}
