using System.Globalization;
using System.Text;
using LlmFp4.Kit.Evaluation;
using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Loading;
using LlmFp4.Kit.Models.Tokenizers;
using LlmFp4.Kit.Plotting;

namespace LlmFp4.Kit.Training;

/// <summary>Held-out figures of a trained model, as the model card states them.</summary>
public sealed record HeldOutEvaluation(string Split, long PredictedTokens, double ModelPerplexity, double UnigramPerplexity);

/// <summary>Measurements and the <c>MODEL_CARD.md</c> of a model trained by <see cref="TrainingSession"/>.</summary>
public static class ModelCard
{
    /// <summary>
    /// Perplexity of <paramref name="model"/> on <paramref name="tokens"/> as <see cref="PerplexityEvaluator"/> defines it
    /// (the kit's one definition, also used by <c>eval</c> and <c>reproduce</c>): windows of <paramref name="window"/>
    /// tokens that carry one token of context over, so every token but the first is scored once. Beside it an
    /// add-one-smoothed unigram model estimated on <paramref name="trainTokens"/>, scored on exactly the same tokens.
    /// </summary>
    public static HeldOutEvaluation Evaluate(string split, LlamaModel model, int[] tokens, int[] trainTokens, int window,
        IProgress<(int Done, int Total)>? progress = null)
    {
        if (window < 2) throw new ArgumentException($"model card: window must hold at least 2 tokens, got {window}.");
        int vocab = model.VocabSize;
        var counts = new long[vocab];
        foreach (int token in trainTokens) counts[token]++;
        double unigramDenominator = trainTokens.LongLength + vocab;
        double unigramNll = 0;
        for (int i = 1; i < tokens.Length; i++) unigramNll -= Math.Log((counts[tokens[i]] + 1) / unigramDenominator);

        var result = PerplexityEvaluator.Evaluate(model, tokens, null, new PerplexityOptions(WindowLength: window, BatchSize: 8),
            progress is null ? null : new SynchronousProgress<EvalProgress>(p => progress.Report((p.Done, p.Total))));
        return new HeldOutEvaluation(split, result.TokenCount, result.Perplexity, Math.Exp(unigramNll / result.TokenCount));
    }

    /// <summary>
    /// Writes <c>MODEL_CARD.md</c> for the model in <paramref name="folder"/> (a <see cref="TrainingSession"/> output:
    /// <c>config.json</c>, <c>model.safetensors</c>, <c>training_config.json</c>, <c>training_log.csv</c>): held-out perplexity
    /// on the validation and test splits with the unigram baseline, and greedy samples from <paramref name="prompts"/>.
    /// Returns the evaluations.
    /// </summary>
    public static IReadOnlyList<HeldOutEvaluation> Build(string folder, ITokenizer tokenizer, IReadOnlyList<string> prompts, int sampleTokens = 48,
        Action<string>? log = null)
    {
        string configPath = Path.Combine(folder, TrainingSession.ConfigFile);
        if (!File.Exists(configPath)) throw new FileNotFoundException($"model card: '{configPath}' not found (not a training output folder?).", configPath);
        var config = TrainingConfig.FromJson(File.ReadAllText(configPath), configPath);
        var rows = TrainingLog.Read(Path.Combine(folder, TrainingSession.LogFile));
        if (rows.Count == 0 || rows[^1].Step != config.Steps)
            throw new InvalidDataException($"model card: the training log in {folder} ends at step {(rows.Count == 0 ? 0 : rows[^1].Step)} of {config.Steps}; finish training first.");
        LlamaModel model;
        using (var checkpoint = HfCheckpoint.Open(folder)) model = LlamaModel.FromCheckpoint(checkpoint);

        int[] train = TrainingData.Tokenize(config.TrainText, config, tokenizer, log);
        var evaluations = new List<HeldOutEvaluation>();
        foreach (var (split, path) in new[] { ("validation", config.ValidationText), ("test", config.TestText) })
        {
            log?.Invoke($"scoring the {split} split …");
            evaluations.Add(Evaluate(split, model, TrainingData.Tokenize(path, config, tokenizer, log), train, config.SequenceLength));
        }
        log?.Invoke("sampling …");
        var samples = prompts.Select(prompt => (prompt, new TextGenerator(model, tokenizer).Continue(prompt, GenerationSettings.Greedy(sampleTokens)))).ToList();
        string? figure = null;
        if (FigureExport.PngAvailable)
        {
            figure = LossFigureFile;
            FigureExport.SavePng(LossFigure(rows), Path.Combine(folder, figure));
        }
        else
        {
            log?.Invoke($"no loss figure: {FigureExport.PngUnavailableReason}");
        }
        Write(folder, Path.GetFileName(Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar)), config, rows, evaluations, samples,
            Tensors.Gemm.Backend.Name, figure);
        return evaluations;
    }

    public const string LossFigureFile = "training_loss.png";

    /// <summary>Training loss per step and the periodic validation loss, against tokens seen (millions).</summary>
    public static Figure LossFigure(IReadOnlyList<TrainingLogRow> log)
    {
        var validation = log.Where(r => r.ValidationLoss is not null).ToList();
        return new Figure()
            .Add(Trace.Line(PlotValues.Of(log.Select(r => r.Tokens / 1e6)), PlotValues.Of(log.Select(r => r.TrainLoss)), "training (batch)"))
            .Add(Trace.LineMarkers(PlotValues.Of(validation.Select(r => r.Tokens / 1e6)), PlotValues.Of(validation.Select(r => r.ValidationLoss!.Value)), "validation"))
            .WithTitle("Training loss")
            .WithXAxis("tokens seen (millions)")
            .WithYAxis("cross-entropy (nats/token)")
            .WithSize(900, 500);
    }

    /// <summary>Writes <c>MODEL_CARD.md</c> (atomically) into <paramref name="folder"/>.</summary>
    public static void Write(string folder, string name, TrainingConfig config, IReadOnlyList<TrainingLogRow> log,
        IReadOnlyList<HeldOutEvaluation> evaluations, IReadOnlyList<(string Prompt, string Continuation)> samples, string gemmBackend,
        string? lossFigure = null)
    {
        var last = log[^1];
        double? lastValidation = log.LastOrDefault(r => r.ValidationLoss is not null)?.ValidationLoss;
        var c = config.Model;
        long parameters = LlamaTensorLayout.ParameterCount(c);
        long embedding = (long)c.VocabSize * c.HiddenSize, lmHead = c.TieWordEmbeddings ? 0 : embedding;
        var s = new StringBuilder();
        string F(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
        s.AppendLine($"# {name}");
        s.AppendLine();
        s.AppendLine("A small LLaMA-architecture language model trained from scratch by LlmFp4.Kit (`llmfp4 train`) on the kit's");
        s.AppendLine("public-domain English corpus (`data/corpus/`, see its PROVENANCE.md), as the default model for the kit's");
        s.AppendLine("quantization experiments. Hugging Face layout: `config.json`, `model.safetensors` (float32), `tokenizer.json`.");
        s.AppendLine();
        s.AppendLine("## Architecture");
        s.AppendLine();
        s.AppendLine("| | |");
        s.AppendLine("|---|---|");
        s.AppendLine(F($"| type | LlamaForCausalLM (RMSNorm, RoPE θ = {c.RopeTheta}, SwiGLU MLP, untied lm_head: {!c.TieWordEmbeddings}) |"));
        s.AppendLine(F($"| vocabulary | {c.VocabSize} (byte-level BPE, `tokenizer.json`) |"));
        s.AppendLine(F($"| hidden size | {c.HiddenSize} |"));
        s.AppendLine(F($"| layers | {c.NumHiddenLayers} |"));
        s.AppendLine(F($"| attention heads | {c.NumAttentionHeads} (head dim {c.HeadDim}), key/value heads {c.KeyValueHeads} |"));
        s.AppendLine(F($"| MLP intermediate size | {c.IntermediateSize} |"));
        s.AppendLine(F($"| context | {c.MaxPositionEmbeddings} positions (trained on {config.SequenceLength}-token windows) |"));
        s.AppendLine(F($"| RMSNorm eps | {c.RmsNormEps} |"));
        s.AppendLine(F($"| parameters | {parameters:N0} ({parameters - embedding - lmHead - c.HiddenSize:N0} in decoder layers, {embedding:N0} embedding, {lmHead:N0} lm_head, {c.HiddenSize} final norm) |"));
        s.AppendLine();
        s.AppendLine("## Training");
        s.AppendLine();
        s.AppendLine(F($"- {last.Step} AdamW steps of {config.BatchSize} × {config.SequenceLength} tokens: {last.Tokens:N0} tokens seen."));
        s.AppendLine(F($"- Wall time {last.ElapsedSeconds / 60:F1} min on 2 CPU cores (shared with other work); GEMM for this card: {gemmBackend}."));
        s.AppendLine(F($"- Learning rate: linear warm-up over {config.WarmupSteps} steps to {config.PeakLearningRate}, cosine decay to {config.MinLearningRate}; β = ({config.Beta1}, {config.Beta2}), weight decay {config.WeightDecay} (not on norm weights), gradient clipping at global norm {config.GradientClip}."));
        s.AppendLine(F($"- Final training loss {last.TrainLoss:F4} nats/token; validation loss (first {config.EvalSequences} windows of the validation split) {lastValidation:F4}."));
        s.AppendLine("- Loss curve: `training_log.csv` (step, tokens, train_loss, lr, grad_norm, elapsed_s, val_loss).");
        if (lossFigure is not null)
        {
            s.AppendLine();
            s.AppendLine($"![Training and validation loss]({lossFigure})");
        }
        s.AppendLine();
        s.AppendLine("Training config (`llmfp4 train --config` with this file reproduces the run bit for bit on the same GEMM backend):");
        s.AppendLine();
        s.AppendLine("```json");
        s.AppendLine(config.ToJson());
        s.AppendLine("```");
        s.AppendLine();
        s.AppendLine("## Held-out perplexity");
        s.AppendLine();
        s.AppendLine(F($"{config.SequenceLength}-token windows of each split that carry one token of context over, so every token but the first is scored"));
        s.AppendLine("once (`PerplexityEvaluator`, the definition `eval` and `reproduce` use); the unigram baseline is an add-one-smoothed");
        s.AppendLine("unigram model estimated on the training split, scored on the same tokens.");
        s.AppendLine();
        s.AppendLine("| split | predicted tokens | model perplexity | unigram perplexity |");
        s.AppendLine("|---|---:|---:|---:|");
        foreach (var e in evaluations)
            s.AppendLine(F($"| {e.Split} | {e.PredictedTokens:N0} | {e.ModelPerplexity:F2} | {e.UnigramPerplexity:F2} |"));
        s.AppendLine();
        s.AppendLine("## Samples");
        s.AppendLine();
        s.AppendLine("Greedy continuations (arg-max at every step):");
        s.AppendLine();
        foreach (var (prompt, continuation) in samples)
        {
            s.AppendLine($"- **{prompt}**{continuation.ReplaceLineEndings(" ")}");
        }
        s.AppendLine();
        s.AppendLine("## Limitations");
        s.AppendLine();
        s.AppendLine("A model of this size trained for about an hour on 2 CPU cores writes locally plausible English in the");
        s.AppendLine("style of its corpus (the King James Bible, Austen, Melville, State of the Union addresses) but has little");
        s.AppendLine("global coherence and no factual reliability. It exists to make quantization effects measurable, not to be used as an assistant.");
        AtomicFile.WriteText(Path.Combine(folder, "MODEL_CARD.md"), writer => writer.Write(s.ToString()));
    }
}
