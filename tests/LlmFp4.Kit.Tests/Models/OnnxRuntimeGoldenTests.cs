using LlmFp4.Kit.Models.Bert;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Xunit.Abstractions;

namespace LlmFp4.Kit.Tests.Models;

/// <summary>
/// The kit's BERT runtime against an independent implementation: ONNX Runtime running the original model.onnx of
/// all-MiniLM-L6-v2 on the same token ids, as a padded batch with an attention mask.
/// </summary>
[Collection(MiniLmCollection.Name)]
public class OnnxRuntimeGoldenTests(MiniLmFixture minilm, ITestOutputHelper output)
{
    private static readonly string[] Texts =
    [
        "For God so loved the world, that he gave his only begotten Son.",
        "A man is playing a guitar.",
        "Quantization maps 32-bit floats onto a 4-bit grid; the exponent bias sets its range!",
        "ok",
        string.Join(" ", Enumerable.Repeat("And the earth was without form, and void; and darkness was upon the face of the deep.", 14)),
    ];

    [Fact]
    public void HiddenStatesAndEmbeddingsMatchOnnxRuntimeWithin1e4()
    {
        var encoder = minilm.Encoder;
        int[][] ids = Texts.Select(encoder.Tokenize).ToArray();
        Assert.Equal(encoder.MaxLength, ids[^1].Length); // the long text is cut at max_seq_length
        int batch = ids.Length, length = ids.Max(s => s.Length), hidden = encoder.Dimension;

        var inputIds = new DenseTensor<long>([batch, length]);
        var mask = new DenseTensor<long>([batch, length]);
        var types = new DenseTensor<long>([batch, length]);
        for (int s = 0; s < batch; s++)
            for (int t = 0; t < ids[s].Length; t++)
            {
                inputIds[s, t] = ids[s][t];
                mask[s, t] = 1;
            }
        using var options = new SessionOptions { IntraOpNumThreads = 2 };
        using var session = new InferenceSession(minilm.Onnx, options);
        using var results = session.Run(
        [
            NamedOnnxValue.CreateFromTensor("input_ids", inputIds),
            NamedOnnxValue.CreateFromTensor("attention_mask", mask),
            NamedOnnxValue.CreateFromTensor("token_type_ids", types),
        ]);
        var reference = results.Single(r => r.Name == "last_hidden_state").AsTensor<float>();

        var states = new float[ids.Sum(s => s.Length) * hidden];
        encoder.Model.Forward(ids, states);
        float[][] embeddings = encoder.EncodeTokens(ids);
        double stateDifference = 0, embeddingDifference = 0;
        int row = 0;
        for (int s = 0; s < batch; s++)
        {
            var pooled = new double[hidden];
            for (int t = 0; t < ids[s].Length; t++, row++)
                for (int j = 0; j < hidden; j++)
                {
                    stateDifference = Math.Max(stateDifference, Math.Abs(reference[s, t, j] - states[row * hidden + j]));
                    pooled[j] += reference[s, t, j] / ids[s].Length;
                }
            double norm = Math.Sqrt(pooled.Sum(v => v * v));
            for (int j = 0; j < hidden; j++)
                embeddingDifference = Math.Max(embeddingDifference, Math.Abs(pooled[j] / norm - embeddings[s][j]));
        }
        output.WriteLine($"max |kit - onnxruntime|: hidden states {stateDifference:E3}, sentence embeddings {embeddingDifference:E3}");
        Assert.True(stateDifference < 1e-4, $"hidden states differ by up to {stateDifference:E3}");
        Assert.True(embeddingDifference < 1e-4, $"embeddings differ by up to {embeddingDifference:E3}");
    }
}
