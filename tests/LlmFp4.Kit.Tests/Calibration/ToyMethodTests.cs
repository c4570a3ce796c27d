using System.Text.Json.Nodes;
using LlmFp4.Kit.Calibration;
using LlmFp4.Kit.Formats;
using LlmFp4.Kit.Quantization;
using static LlmFp4.Kit.Tests.Calibration.CalibrationTestData;

namespace LlmFp4.Kit.Tests.Calibration;

/// <summary>A method added from outside the kit: quantizes the weights of every <see cref="Stride"/>-th layer of a group (MinMax, round to nearest) and keeps the others.</summary>
[MethodName("toy-stride")]
public sealed record ToyStrideSettings : MethodSettings
{
    /// <summary>Quantize layers 0, Stride, 2·Stride, … of each input group.</summary>
    public int Stride { get; init; } = 2;

    /// <inheritdoc/>
    protected internal override void Validate(QuantConfig config)
    {
        if (Stride < 1) throw new ArgumentException($"toy-stride: stride must be at least 1, got {Stride}.");
        if (config.Weights is null) throw new ArgumentException("toy-stride needs quantized weights.");
    }
}

/// <summary>Whether the toy method quantized the layer, and its index in its group.</summary>
[MethodName("toy-stride")]
public sealed record ToyStrideLayerResult(int IndexInGroup, bool Quantized) : MethodLayerResult;

internal sealed class ToyStrideMethod(ToyStrideSettings settings) : ICalibrationMethod<ToyStrideSettings>
{
    public IEnumerable<LayerCalibration> CalibrateGroup(CalibrationContext context, InputGroup group)
    {
        var spec = context.Config.Weights!;
        for (int i = 0; i < group.Layers.Count; i++)
        {
            var layer = group.Layers[i];
            bool quantize = i % settings.Stride == 0;
            var quantizer = quantize ? MinMax.ForMatrix(spec, layer.Weight, layer.OutFeatures, layer.InFeatures) : null;
            var weight = quantizer?.Quantize(layer.Weight, layer.OutFeatures, layer.InFeatures) ?? layer.Weight;
            yield return context.Layer(group, layer, quantizer, weight, null, quantize ? CalibrationContext.FormatName(spec) : null, null,
                new ToyStrideLayerResult(i, quantize));
        }
    }
}

public class ToyMethodTests
{
    private static QuantConfig Config(int stride) => new()
    {
        Name = "toy",
        Method = new ToyStrideSettings { Stride = stride },
        Weights = QuantSpec.Int(4, Granularity.PerRow),
        Calibration = new CalibrationDataSettings { Samples = 4, SequenceLength = 16, Seed = 3 },
    };

    [Fact]
    public void A_method_declared_in_one_file_calibrates_saves_loads_and_round_trips()
    {
        var config = Config(stride: 2);
        Assert.Equal("toy-stride", config.Method.Name);
        Assert.Contains("toy-stride", MethodSettings.AllNames);
        Assert.IsType<ToyStrideMethod>(CalibrationMethods.For(config.Method));

        string json = config.ToJson();
        Assert.Equal("toy-stride", JsonNode.Parse(json)!["method"]!["type"]!.GetValue<string>());
        var read = QuantConfig.FromJson(json);
        Assert.Equal(json, read.ToJson());
        Assert.Equal(config.Hash, read.Hash);
        Assert.NotEqual(config.Hash, Config(stride: 3).Hash);
        Assert.Throws<InvalidDataException>(() => QuantConfig.FromJson(json.Replace("\"stride\": 2", "\"stride\": 0")));

        var model = TinyModel();
        var set = TinySet();
        var result = Calibrator.Run(model, config, set);
        Assert.Equal(model.Linears.Count, result.Layers.Count);
        var details = result.Layers.Select(l => Assert.IsType<ToyStrideLayerResult>(l.Details)).ToList();
        Assert.Contains(details, d => d.Quantized);
        Assert.Contains(details, d => !d.Quantized);
        foreach (var (layer, detail) in result.Layers.Zip(details))
        {
            Assert.Equal(detail.IndexInGroup % 2 == 0, detail.Quantized);
            Assert.Equal(detail.Quantized, layer.WeightQuantizer is not null);
            Assert.True(detail.Quantized ? layer.OutputMse > 0 : layer.OutputMse == 0, $"{layer.Name}: output MSE {layer.OutputMse}");
        }

        string directory = Path.Combine(Path.GetTempPath(), $"toy-{Guid.NewGuid():N}");
        try
        {
            result.Save(directory);
            Assert.Contains("\"method\": \"toy-stride\"", File.ReadAllText(Path.Combine(directory, CalibrationResult.JsonFile)));
            var loaded = CalibrationResult.Load(directory);
            Assert.Equal(json, loaded.Config.ToJson());
            Assert.Equal(details, loaded.Layers.Select(l => l.Details));
            var fromSaved = model.Clone();
            loaded.Apply(fromSaved);
            var fromRun = model.Clone();
            result.Apply(fromRun);
            Assert.Equal(Logits(fromRun, set), Logits(fromSaved, set));
            Assert.NotEqual(Logits(model, set), Logits(fromSaved, set));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
