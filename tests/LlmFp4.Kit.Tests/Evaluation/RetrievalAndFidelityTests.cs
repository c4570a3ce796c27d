using LlmFp4.Kit.Evaluation;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Tests.Models;

namespace LlmFp4.Kit.Tests.Evaluation;

public class RetrievalAndFidelityTests
{
    [Fact]
    public void RanksCountEveryCandidateAtLeastAsSimilarAsTheAnswer()
    {
        float[][] queries = [[1, 0], [0, 1], [1, 1], [-1, 0]];
        float[][] candidates = [[2, 0], [0.6f, 0.8f], [1, 1], [1, 0]];
        // Query 1 (0,1): its answer (0.6,0.8) has cosine 0.8, (1,1) has 0.707 → rank 1. Query 3 (-1,0): its answer (1,0)
        // has cosine -1, the lowest → rank 4. Query 0 (1,0): (2,0) and (1,0) tie at cosine 1 → rank 2.
        Assert.Equal([2, 1, 1, 4], VerseRetrieval.Ranks(queries, candidates));
        var metrics = VerseRetrieval.Metrics([2, 1, 1, 4]).ToDictionary(m => m.Metric);
        Assert.Equal(0.5, metrics["recall@1"].Value);
        Assert.Equal(1.0, metrics["recall@10"].Value);
        Assert.Equal((0.5 + 1 + 1 + 0.25) / 4, metrics["mrr"].Value, 1e-12);
        Assert.NotNull(metrics["mrr"].Stderr);
        float[][] collapsed = [[1, 1], [1, 1], [1, 1]];
        Assert.Equal([3, 3, 3], VerseRetrieval.Ranks(collapsed, collapsed)); // a constant encoder ranks every answer last
        Assert.Throws<ArgumentException>(() => VerseRetrieval.Ranks(queries, candidates[..3]));
    }

    [Fact]
    public void EvaluateEmbedsBothSidesAndFilesTheMetrics()
    {
        VersePair[] pairs = [new("A 1:1", "alpha", "ALPHA"), new("A 1:2", "beta", "BETA"), new("A 1:3", "gamma", "GAMMA")];
        // An "encoder" that only sees the letters' identity: exact retrieval.
        float[][] Embed(IReadOnlyList<string> texts) => texts.Select(t => new float[] { t.ToLowerInvariant()[0] == 'a' ? 1 : 0, t.ToLowerInvariant()[0] == 'b' ? 1 : 0, t.ToLowerInvariant()[0] == 'g' ? 1 : 0 }).ToArray();
        var results = VerseRetrieval.Evaluate(Embed, pairs, new EvalRunInfo("toy", Limit: 2));
        Assert.All(results, r => Assert.Equal((VerseRetrieval.TaskName, 2, "toy"), (r.Task, r.N, r.Model)));
        Assert.Equal(1.0, results.Single(r => r.Metric == "recall@1").Value);
    }

    [Fact]
    public void MeanCosineIsOneForTheSameEmbeddingsAndFallsWithDisagreement()
    {
        float[][] a = [[1, 0, 0], [0, 2, 0]], b = [[1, 0, 0], [0, -1, 0]];
        Assert.Equal(1, Fidelity.MeanCosine(a, a).Value, 12);
        Assert.Equal(0, Fidelity.MeanCosine(a, b).Value, 12); // cosines 1 and -1
        Assert.Equal(0, Fidelity.MeanCosine([[0f, 0]], [[1f, 0]]).Value); // a zero vector counts as cosine 0
        Assert.Throws<ArgumentException>(() => Fidelity.MeanCosine(a, b[..1]));
    }

    [Fact]
    public void NextTokenFidelityComputesKlAndTopOneAgreementPerPosition()
    {
        // Two positions over a vocabulary of 2: identical, then p = softmax(0, 0) = (½, ½) against q = softmax(0, ln 3) = (¼, ¾).
        float[][] reference = [[1, 2, 0, 0]], other = [[1, 2, 0, MathF.Log(3)]];
        var metrics = Fidelity.NextToken(reference, other, vocab: 2).ToDictionary(m => m.Metric);
        double expected = 0.5 * Math.Log(0.5 / 0.25) + 0.5 * Math.Log(0.5 / 0.75);
        Assert.Equal(expected / 2, metrics["kl_divergence"].Value, 6); // mean of 0 and the second position's KL
        Assert.Equal(0.5, metrics["top1_agreement"].Value); // position 2: argmax 0 (lowest id on ties) vs 1
        Assert.Equal(2, metrics["kl_divergence"].N);
        Assert.Throws<ArgumentException>(() => Fidelity.NextToken(reference, [[1, 2, 0]], vocab: 2));
    }

    [Fact]
    public void NextTokenFidelityOfAModelWithItselfIsPerfectAndOfAPerturbedTwinIsNot()
    {
        var model = LlamaModel.CreateRandom(LlamaModelTests.TinyConfig(tied: false), seed: 5, std: 0.3f);
        var twin = model.Clone();
        int[][] windows = [[1, 2, 3, 4, 5], [6, 7, 8], [9, 10, 11, 12]];
        var same = Fidelity.NextToken(model, twin, windows, batchSequences: 2).ToDictionary(m => m.Metric);
        Assert.Equal(0, same["kl_divergence"].Value, 9);
        Assert.Equal(1, same["top1_agreement"].Value);
        Assert.Equal(12, same["top1_agreement"].N);
        foreach (var linear in twin.Linears) linear.Weight = linear.Weight.Select(w => w * 1.5f).ToArray();
        var perturbed = Fidelity.NextToken(model, twin, windows).ToDictionary(m => m.Metric);
        Assert.True(perturbed["kl_divergence"].Value > 1e-4);
    }

    [Fact]
    public void FidelityWindowsCutTheFirstTokensIntoConsecutiveWindows()
    {
        int[] ids = [.. Enumerable.Range(0, 10)];
        Assert.Equal([[0, 1, 2, 3], [4, 5, 6, 7], [8]], Fidelity.Windows(ids, tokens: 9, window: 4));
        Assert.Equal([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]], Fidelity.Windows(ids, tokens: 100, window: 16));
        Assert.Throws<ArgumentException>(() => Fidelity.Windows([7], tokens: 8, window: 4));
        Assert.Throws<ArgumentException>(() => Fidelity.Windows(ids, tokens: 8, window: 0));
    }

    [Fact]
    public void TheFidelityTaskComparesTheScoredModelWithItsReference()
    {
        var model = LlamaModel.CreateRandom(LlamaModelTests.TinyConfig(tied: false), seed: 5, std: 0.3f);
        var quantized = model.Clone();
        foreach (var linear in quantized.Linears) linear.Weight = linear.Weight.Select(w => MathF.Round(w * 4) / 4).ToArray();
        var windows = Fidelity.Windows([.. Enumerable.Range(1, 20)], tokens: 20, window: 8);
        var task = new NextTokenFidelityTask(model, windows);
        Assert.Equal(20, task.Count);
        var results = EvalRunner.Run(new LoglikelihoodScorer(quantized, new CharTokenizer()), [task], new EvalRunInfo("tiny", "rounded"));
        Assert.Equal(["kl_divergence", "top1_agreement"], results.Select(r => r.Metric));
        Assert.All(results, r => Assert.Equal(Fidelity.TaskName, r.Task));
        Assert.True(results[0].Value > 1e-6);
        Assert.Equal(Fidelity.NextToken(model, quantized, windows).Select(m => m.Value), results.Select(r => r.Value));
    }
}
