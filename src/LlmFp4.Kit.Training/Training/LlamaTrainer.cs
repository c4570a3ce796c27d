using LlmFp4.Kit.Models;
using LlmFp4.Kit.Models.Loading;
using System.Numerics.Tensors;

namespace LlmFp4.Kit.Training;

/// <summary>
/// Forward and backward passes of a LLaMA model over micro-batches of fixed-length sequences, with every
/// activation buffer allocated once in the constructor and reused by each pass. Gradients accumulate into
/// <see cref="Gradients"/> until <see cref="ZeroGradients"/>; the optimizer step is the caller's
/// (<see cref="TrainingSession"/>).
/// </summary>
public sealed class LlamaTrainer
{
    private sealed class LayerActivations(int tokens, int hidden, int qWidth, int kvWidth, int intermediate, long probabilities)
    {
        public readonly float[] InverseRms1 = new float[tokens], Normed1 = new float[tokens * hidden];
        public readonly float[] Q = new float[tokens * qWidth], K = new float[tokens * kvWidth], V = new float[tokens * kvWidth];
        public readonly float[] Probabilities = new float[probabilities], Context = new float[tokens * qWidth];
        public readonly float[] Middle = new float[tokens * hidden], InverseRms2 = new float[tokens], Normed2 = new float[tokens * hidden];
        public readonly float[] Gate = new float[tokens * intermediate], Up = new float[tokens * intermediate], Activated = new float[tokens * intermediate];
    }

    private readonly LlamaConfig _config;
    private readonly int _tokens, _hidden, _qWidth, _kvWidth, _intermediate, _vocab;
    private readonly float _eps;
    private readonly Rope _rope;
    private readonly CausalAttention _attention;
    private readonly LayerActivations[] _layers;
    private readonly float[][] _residual; // input of layer l; the last one feeds the final norm
    private readonly float[] _finalInverseRms, _finalNormed, _logits;
    private readonly int[] _inputs, _targets;
    private readonly double[] _losses;
    // Gradient scratch, shared by all layers.
    private readonly float[] _dResidual, _dNormed, _dBranch, _dQ, _dK, _dV, _dContext, _dGate, _dUp, _dActivated, _rowScratch;

    public LlamaParameters Parameters { get; }
    public LlamaParameters Gradients { get; }
    public int SequenceLength { get; }
    public int MicroBatchSize { get; }

    public LlamaTrainer(LlamaConfig config, int sequenceLength, int microBatchSize)
    {
        config.Validate();
        if (sequenceLength <= 0 || sequenceLength > config.MaxPositionEmbeddings)
            throw new ArgumentException($"trainer: sequence length {sequenceLength} must lie in 1..max_position_embeddings {config.MaxPositionEmbeddings}.");
        if (microBatchSize <= 0) throw new ArgumentException($"trainer: micro-batch size must be positive, got {microBatchSize}.");
        _config = config;
        SequenceLength = sequenceLength;
        MicroBatchSize = microBatchSize;
        Parameters = new LlamaParameters(config);
        Gradients = new LlamaParameters(config);
        _tokens = sequenceLength * microBatchSize;
        _hidden = config.HiddenSize;
        _qWidth = config.NumAttentionHeads * config.HeadDim;
        _kvWidth = config.KeyValueHeads * config.HeadDim;
        _intermediate = config.IntermediateSize;
        _vocab = config.VocabSize;
        _eps = (float)config.RmsNormEps;
        _rope = Rope.For(config, sequenceLength);
        _attention = new CausalAttention(sequenceLength, config.NumAttentionHeads, config.KeyValueHeads, config.HeadDim);
        long probabilities = (long)microBatchSize * config.NumAttentionHeads * _attention.ProbabilityCount;
        _layers = new LayerActivations[config.NumHiddenLayers];
        for (int l = 0; l < _layers.Length; l++)
            _layers[l] = new LayerActivations(_tokens, _hidden, _qWidth, _kvWidth, _intermediate, probabilities);
        _residual = new float[config.NumHiddenLayers + 1][];
        for (int l = 0; l < _residual.Length; l++) _residual[l] = new float[_tokens * _hidden];
        _finalInverseRms = new float[_tokens];
        _finalNormed = new float[_tokens * _hidden];
        _logits = new float[(long)_tokens * _vocab];
        _inputs = new int[_tokens];
        _targets = new int[_tokens];
        _losses = new double[_tokens];
        _dResidual = new float[_tokens * _hidden];
        _dNormed = new float[_tokens * _hidden];
        _dBranch = new float[_tokens * _hidden];
        _dQ = new float[_tokens * _qWidth];
        _dK = new float[_tokens * _kvWidth];
        _dV = new float[_tokens * _kvWidth];
        _dContext = new float[_tokens * _qWidth];
        _dGate = new float[_tokens * _intermediate];
        _dUp = new float[_tokens * _intermediate];
        _dActivated = new float[_tokens * _intermediate];
        _rowScratch = new float[_hidden];
    }

    public void ZeroGradients() => Array.Clear(Gradients.Values);

    /// <summary>
    /// Forward pass over <paramref name="windows"/> (MicroBatchSize windows of SequenceLength + 1 tokens, back to back;
    /// token i + 1 is the target of token i) and, when <paramref name="gradientScale"/> is not 0, the backward pass,
    /// adding <c>gradientScale · ∂(sum of token losses)/∂θ</c> to <see cref="Gradients"/>. Returns the sum of the
    /// token losses (natural log) in double.
    /// </summary>
    public double Run(ReadOnlySpan<int> windows, float gradientScale)
    {
        int window = SequenceLength + 1;
        if (windows.Length != MicroBatchSize * window)
            throw new ArgumentException($"trainer: expected {MicroBatchSize} windows of {window} tokens ({MicroBatchSize * window}), got {windows.Length} tokens.");
        for (int b = 0; b < MicroBatchSize; b++)
        {
            windows.Slice(b * window, SequenceLength).CopyTo(_inputs.AsSpan(b * SequenceLength));
            windows.Slice(b * window + 1, SequenceLength).CopyTo(_targets.AsSpan(b * SequenceLength));
        }
        Forward();
        CrossEntropy.Forward(_logits, _targets, _vocab, gradientScale, _losses);
        double loss = 0;
        foreach (double value in _losses) loss += value;
        if (gradientScale != 0) Backward();
        return loss;
    }

    private void Forward()
    {
        var p = Parameters;
        Embedding.Forward(p[LlamaTensorLayout.Embedding], _hidden, _inputs, _residual[0]);
        for (int l = 0; l < _layers.Length; l++)
        {
            var a = _layers[l];
            float[] input = _residual[l], output = _residual[l + 1];
            RmsNorm.Forward(input, p.Layer(l, "input_layernorm.weight"), _eps, a.Normed1, a.InverseRms1);
            Linear.Forward(a.Normed1, p.Layer(l, "self_attn.q_proj.weight"), a.Q, _tokens, _hidden, _qWidth);
            Linear.Forward(a.Normed1, p.Layer(l, "self_attn.k_proj.weight"), a.K, _tokens, _hidden, _kvWidth);
            Linear.Forward(a.Normed1, p.Layer(l, "self_attn.v_proj.weight"), a.V, _tokens, _hidden, _kvWidth);
            for (int b = 0; b < MicroBatchSize; b++)
            {
                _rope.Apply(a.Q.AsSpan(b * SequenceLength * _qWidth), SequenceLength, _config.NumAttentionHeads, 0);
                _rope.Apply(a.K.AsSpan(b * SequenceLength * _kvWidth), SequenceLength, _config.KeyValueHeads, 0);
            }
            _attention.Forward(a.Q, a.K, a.V, MicroBatchSize, a.Probabilities, a.Context);
            Linear.Forward(a.Context, p.Layer(l, "self_attn.o_proj.weight"), a.Middle, _tokens, _qWidth, _hidden);
            TensorPrimitives.Add(a.Middle, input, a.Middle);
            RmsNorm.Forward(a.Middle, p.Layer(l, "post_attention_layernorm.weight"), _eps, a.Normed2, a.InverseRms2);
            Linear.Forward(a.Normed2, p.Layer(l, "mlp.gate_proj.weight"), a.Gate, _tokens, _hidden, _intermediate);
            Linear.Forward(a.Normed2, p.Layer(l, "mlp.up_proj.weight"), a.Up, _tokens, _hidden, _intermediate);
            SwiGlu.Forward(a.Gate, a.Up, a.Activated);
            Linear.Forward(a.Activated, p.Layer(l, "mlp.down_proj.weight"), output, _tokens, _intermediate, _hidden);
            TensorPrimitives.Add(output, a.Middle, output);
        }
        RmsNorm.Forward(_residual[^1], p[LlamaTensorLayout.FinalNorm], _eps, _finalNormed, _finalInverseRms);
        Linear.Forward(_finalNormed, LmHead(p), _logits, _tokens, _hidden, _vocab);
    }

    private Span<float> LmHead(LlamaParameters parameters) =>
        parameters[_config.TieWordEmbeddings ? LlamaTensorLayout.Embedding : LlamaTensorLayout.LmHead];

    /// <summary>Backward pass from the logit gradients that <see cref="CrossEntropy.Forward"/> left in <c>_logits</c>.</summary>
    private void Backward()
    {
        var p = Parameters;
        var g = Gradients;
        Linear.Backward(_finalNormed, LmHead(p), _logits, _dNormed, LmHead(g), _tokens, _hidden, _vocab);
        RmsNormBackward.Backward(_residual[^1], p[LlamaTensorLayout.FinalNorm], _finalInverseRms, _dNormed, _dResidual,
            g[LlamaTensorLayout.FinalNorm], _rowScratch);
        for (int l = _layers.Length - 1; l >= 0; l--)
        {
            var a = _layers[l];
            // _dResidual holds ∂L/∂(layer output); the MLP branch and the skip both feed it back.
            Linear.Backward(a.Activated, p.Layer(l, "mlp.down_proj.weight"), _dResidual, _dActivated, g.Layer(l, "mlp.down_proj.weight"),
                _tokens, _intermediate, _hidden);
            SwiGluBackward.Backward(a.Gate, a.Up, _dActivated, _dGate, _dUp);
            Linear.Backward(a.Normed2, p.Layer(l, "mlp.gate_proj.weight"), _dGate, _dNormed, g.Layer(l, "mlp.gate_proj.weight"),
                _tokens, _hidden, _intermediate);
            Linear.Backward(a.Normed2, p.Layer(l, "mlp.up_proj.weight"), _dUp, _dNormed, g.Layer(l, "mlp.up_proj.weight"),
                _tokens, _hidden, _intermediate, accumulateDx: true);
            RmsNormBackward.Backward(a.Middle, p.Layer(l, "post_attention_layernorm.weight"), a.InverseRms2, _dNormed, _dBranch,
                g.Layer(l, "post_attention_layernorm.weight"), _rowScratch);
            TensorPrimitives.Add(_dResidual, _dBranch, _dResidual);

            // _dResidual now holds ∂L/∂(middle): the attention branch and the skip to the layer input.
            Linear.Backward(a.Context, p.Layer(l, "self_attn.o_proj.weight"), _dResidual, _dContext, g.Layer(l, "self_attn.o_proj.weight"),
                _tokens, _qWidth, _hidden);
            _attention.Backward(a.Q, a.K, a.V, MicroBatchSize, a.Probabilities, a.Context, _dContext, _dQ, _dK, _dV);
            for (int b = 0; b < MicroBatchSize; b++)
            {
                _rope.ApplyInverse(_dQ.AsSpan(b * SequenceLength * _qWidth), SequenceLength, _config.NumAttentionHeads, 0);
                _rope.ApplyInverse(_dK.AsSpan(b * SequenceLength * _kvWidth), SequenceLength, _config.KeyValueHeads, 0);
            }
            Linear.Backward(a.Normed1, p.Layer(l, "self_attn.q_proj.weight"), _dQ, _dNormed, g.Layer(l, "self_attn.q_proj.weight"),
                _tokens, _hidden, _qWidth);
            Linear.Backward(a.Normed1, p.Layer(l, "self_attn.k_proj.weight"), _dK, _dNormed, g.Layer(l, "self_attn.k_proj.weight"),
                _tokens, _hidden, _kvWidth, accumulateDx: true);
            Linear.Backward(a.Normed1, p.Layer(l, "self_attn.v_proj.weight"), _dV, _dNormed, g.Layer(l, "self_attn.v_proj.weight"),
                _tokens, _hidden, _kvWidth, accumulateDx: true);
            RmsNormBackward.Backward(_residual[l], p.Layer(l, "input_layernorm.weight"), a.InverseRms1, _dNormed, _dBranch,
                g.Layer(l, "input_layernorm.weight"), _rowScratch);
            TensorPrimitives.Add(_dResidual, _dBranch, _dResidual);
        }
        Embedding.Backward(_inputs, _dResidual, _hidden, g[LlamaTensorLayout.Embedding]);
    }
}
