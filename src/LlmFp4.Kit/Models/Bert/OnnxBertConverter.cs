using System.Globalization;
using System.Text.RegularExpressions;
using LlmFp4.Kit.Models.Loading;

namespace LlmFp4.Kit.Models.Bert;

/// <summary>A BERT encoder recovered from an ONNX export: its config and its parameters under Hugging Face names.</summary>
/// <param name="Config">The shape read from the graph.</param>
/// <param name="Tensors">Every parameter of <see cref="BertModel.WeightShapes"/>, plus <c>pooler.dense.*</c> when the export has the pooler.</param>
/// <param name="MappedLinears">For each linear weight, the ONNX initializer it came from (transposed).</param>
public sealed record OnnxBertExport(BertConfig Config, IReadOnlyDictionary<string, float[]> Tensors, IReadOnlyDictionary<string, string> MappedLinears);

/// <summary>
/// Maps the graph of a PyTorch ONNX export of Hugging Face's <c>BertModel</c> back to the model's parameters and config.
/// Biases, LayerNorm parameters and embeddings keep their module names in such exports, but the linear weights are
/// folded into anonymous <c>MatMul</c> initializers ("927", "onnx::MatMul_788") stored [in × out]. Each one is found by
/// following the graph: the <c>Add</c> that consumes its named bias <c>X.bias</c> takes the output of a <c>MatMul</c>
/// whose constant operand is <c>X.weight</c>ᵀ (or a <c>Gemm</c> takes the bias and the weight together). The shape comes from the tensors, the head count from the reshape that
/// splits the query into heads, and <c>layer_norm_eps</c> from the constant added to the variance before the square root
/// (or a fused LayerNormalization's epsilon). A float initializer that maps to nothing is an error, so an architecture
/// the converter does not understand is never half converted.
/// </summary>
public static partial class OnnxBertConverter
{
    /// <exception cref="InvalidDataException">The graph is not a BERT encoder this converter can map; the message names what is missing.</exception>
    public static OnnxBertExport Convert(OnnxModel model, string source, int padTokenId = 0)
    {
        var graph = model.Graph;
        var constants = new Dictionary<string, OnnxTensor>(graph.Initializers, StringComparer.Ordinal);
        foreach (var node in graph.Nodes)
            if (node.OpType == "Constant" && node.Outputs.Length == 1 && node.Attributes.TryGetValue("value", out var value) && value.Tensor is { } tensor)
                constants[node.Outputs[0]] = tensor with { Name = node.Outputs[0] };
        var producers = new Dictionary<string, OnnxNode>(StringComparer.Ordinal);
        var consumers = new Dictionary<string, List<OnnxNode>>(StringComparer.Ordinal);
        foreach (var node in graph.Nodes)
        {
            foreach (string output in node.Outputs) producers[output] = node;
            foreach (string input in node.Inputs)
                if (input.Length > 0) (consumers.TryGetValue(input, out var list) ? list : consumers[input] = []).Add(node);
        }
        InvalidDataException Error(string message) => new($"{source}: {message}");

        var tensors = new Dictionary<string, float[]>(StringComparer.Ordinal);
        var shapes = new Dictionary<string, long[]>(StringComparer.Ordinal);
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, tensor) in graph.Initializers)
            if (ParameterName().IsMatch(name) && !LinearWeight().IsMatch(name))
            {
                tensors[name] = tensor.ToFloat32();
                shapes[name] = tensor.Dims;
                used.Add(name);
            }

        // Linear weights: Add(X.bias, MatMul(input, W)) with W = X.weightᵀ, or Gemm(input, W, X.bias) with W = X.weight
        // when transB = 1 (exports use it for the pooler).
        var mapped = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string bias in tensors.Keys.Where(n => n.EndsWith(".bias", StringComparison.Ordinal) && !n.Contains("LayerNorm", StringComparison.Ordinal)).ToList())
        {
            string module = bias[..^".bias".Length];
            var user = consumers.GetValueOrDefault(bias)?.FirstOrDefault(n => n.OpType is "Add" or "Gemm")
                ?? throw Error($"no Add or Gemm node consumes {bias}, so the linear layer {module} cannot be found.");
            OnnxTensor? weight;
            bool transposed;
            if (user.OpType == "Gemm")
            {
                long Attribute(string name, long fallback) => user.Attributes.TryGetValue(name, out var a) && a.Int is { } i ? i : fallback;
                float Scale(string name) => user.Attributes.TryGetValue(name, out var a) && a.Float is { } f ? f : 1f;
                if (user.Inputs.Length != 3 || user.Inputs[2] != bias || Attribute("transA", 0) != 0 || Scale("alpha") != 1 || Scale("beta") != 1)
                    throw Error($"the Gemm of {bias} is not a plain linear layer (bias as C, alpha = beta = 1, no transA).");
                weight = constants.GetValueOrDefault(user.Inputs[1]);
                transposed = Attribute("transB", 0) == 0;
            }
            else
            {
                string product = user.Inputs[0] == bias ? user.Inputs[1] : user.Inputs[0];
                weight = producers.TryGetValue(product, out var matMul) && matMul.OpType == "MatMul" && matMul.Inputs.Length == 2
                    ? constants.GetValueOrDefault(matMul.Inputs[1]) : null;
                transposed = true;
            }
            if (weight is null || weight.Dims.Length != 2)
                throw Error($"the {user.OpType} of {bias} does not multiply by a constant 2-D weight, so {module}.weight cannot be mapped.");
            int rows = checked((int)weight.Dims[0]), cols = checked((int)weight.Dims[1]);
            int outFeatures = transposed ? cols : rows, inFeatures = transposed ? rows : cols;
            if (outFeatures != tensors[bias].Length)
                throw Error($"{weight.Name} is [{rows} × {cols}] but {bias} has {tensors[bias].Length} values.");
            tensors[module + ".weight"] = transposed ? Transpose(weight.ToFloat32(), rows, cols) : weight.ToFloat32();
            shapes[module + ".weight"] = [outFeatures, inFeatures];
            mapped[module + ".weight"] = weight.Name;
            used.Add(weight.Name);
        }

        var unmapped = graph.Initializers.Values.Where(t => !used.Contains(t.Name) && t.DataType is OnnxDataType.Float or OnnxDataType.Float16
            or OnnxDataType.BFloat16 or OnnxDataType.Double).ToList();
        if (unmapped.Count > 0)
            throw Error($"float initializers that map to no BERT parameter: {string.Join(", ", unmapped.Take(5).Select(t => $"{t.Name} [{string.Join(", ", t.Dims)}]"))}" +
                (unmapped.Count > 5 ? $" and {unmapped.Count - 5} more" : "") + ".");

        long[] Shape(string name) => shapes.TryGetValue(name, out var shape) ? shape : throw Error($"no {name} in the graph.");
        var words = Shape(BertModel.WordEmbeddingsName);
        int hidden = (int)words[1];
        int layers = tensors.Keys.Select(n => LayerIndex().Match(n)).Where(m => m.Success).Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).DefaultIfEmpty(-1).Max() + 1;
        if (layers == 0) throw Error("no encoder.layer.N parameters.");
        var (heads, headDim) = AttentionHeads(graph, consumers, producers, constants, Error);
        if (heads * headDim != hidden) throw Error($"the attention splits the query into {heads} heads of {headDim}, which is not the hidden size {hidden}.");
        if (!graph.Nodes.Any(n => n.OpType == "Erf"))
            throw Error("the graph has no Erf node, so its activation is not the erf GELU (hidden_act 'gelu') the kit implements.");

        var config = new BertConfig
        {
            VocabSize = (int)words[0],
            HiddenSize = hidden,
            NumHiddenLayers = layers,
            NumAttentionHeads = heads,
            IntermediateSize = (int)Shape("encoder.layer.0.intermediate.dense.bias")[0],
            MaxPositionEmbeddings = (int)Shape(BertModel.PositionEmbeddingsName)[0],
            TypeVocabSize = (int)Shape(BertModel.TokenTypeEmbeddingsName)[0],
            LayerNormEps = LayerNormEpsilon(graph, producers, constants, Error),
            PadTokenId = padTokenId,
        };
        try { config.Validate(); }
        catch (ArgumentException ex) { throw Error(ex.Message); }
        var missing = BertModel.WeightShapes(config).Where(e => !tensors.ContainsKey(e.Name)).Select(e => e.Name).ToList();
        if (missing.Count > 0) throw Error($"missing BERT parameters: {string.Join(", ", missing.Take(5))}{(missing.Count > 5 ? $" and {missing.Count - 5} more" : "")}.");
        foreach (var (name, shape) in BertModel.WeightShapes(config))
            if (!shapes[name].SequenceEqual(shape.Select(d => (long)d)))
                throw Error($"{name} is [{string.Join(", ", shapes[name])}], the config implies [{string.Join(", ", shape)}].");
        return new OnnxBertExport(config, tensors, mapped);
    }

    /// <summary>
    /// Heads and head size from the Reshape that turns the query projection [batch, seq, hidden] into
    /// [batch, seq, heads, head_dim]: its shape is a constant, or a Concat whose last two inputs are constants.
    /// </summary>
    private static (int Heads, int HeadDim) AttentionHeads(OnnxGraph graph, Dictionary<string, List<OnnxNode>> consumers,
        Dictionary<string, OnnxNode> producers, Dictionary<string, OnnxTensor> constants, Func<string, InvalidDataException> error)
    {
        const string queryBias = "encoder.layer.0.attention.self.query.bias";
        var add = consumers.GetValueOrDefault(queryBias)?.FirstOrDefault(n => n.OpType == "Add")
            ?? throw error($"no Add node consumes {queryBias}.");
        var reshape = consumers.GetValueOrDefault(add.Outputs[0])?.FirstOrDefault(n => n.OpType == "Reshape")
            ?? throw error("the query projection of layer 0 is not reshaped into heads.");
        long[] shape;
        if (constants.TryGetValue(reshape.Inputs[1], out var constant)) shape = constant.ToInt64();
        else if (producers.TryGetValue(reshape.Inputs[1], out var concat) && concat.OpType == "Concat" && concat.Inputs.Length == 4
            && constants.TryGetValue(concat.Inputs[2], out var heads) && constants.TryGetValue(concat.Inputs[3], out var size))
            shape = [0, 0, heads.ToInt64().Single(), size.ToInt64().Single()];
        else throw error("the shape that splits the query into heads is not a constant the converter can read.");
        if (shape.Length != 4 || shape[2] <= 0 || shape[3] <= 0)
            throw error($"the query is reshaped to [{string.Join(", ", shape)}], not [batch, seq, heads, head_dim].");
        return ((int)shape[2], (int)shape[3]);
    }

    /// <summary>
    /// The epsilon of every LayerNorm: the scalar constant added before a Sqrt (the decomposed form
    /// <c>(x − mean) / Sqrt(ReduceMean((x − mean)²) + eps)</c>) or a LayerNormalization node's attribute. All must agree.
    /// </summary>
    private static double LayerNormEpsilon(OnnxGraph graph, Dictionary<string, OnnxNode> producers, Dictionary<string, OnnxTensor> constants,
        Func<string, InvalidDataException> error)
    {
        var values = new HashSet<float>();
        foreach (var node in graph.Nodes)
            if (node.OpType == "LayerNormalization")
                values.Add(node.Attributes.TryGetValue("epsilon", out var epsilon) && epsilon.Float is { } f ? f : 1e-5f);
            else if (node.OpType == "Sqrt" && producers.TryGetValue(node.Inputs[0], out var add) && add.OpType == "Add"
                && add.Inputs.Select(i => constants.GetValueOrDefault(i)).OfType<OnnxTensor>().FirstOrDefault(t => t.ElementCount == 1) is { } eps)
                values.Add(eps.ToFloat32()[0]);
        if (values.Count != 1)
            throw error(values.Count == 0 ? "no LayerNorm epsilon found in the graph." : $"LayerNorms with different epsilons: {string.Join(", ", values)}.");
        // The export stores it as float32; its shortest round-trip form recovers the decimal the config had (1e-12, not 9.9999999600e-13).
        return double.Parse(values.Single().ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
    }

    private static float[] Transpose(float[] values, int rows, int cols)
    {
        var transposed = new float[values.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) transposed[c * rows + r] = values[r * cols + c];
        return transposed;
    }

    [GeneratedRegex(@"^(embeddings\.(word_embeddings|position_embeddings|token_type_embeddings)\.weight|embeddings\.LayerNorm\.(weight|bias)|encoder\.layer\.\d+\.[a-z_.A-Z]+\.(weight|bias)|pooler\.dense\.(weight|bias))$")]
    private static partial Regex ParameterName();

    /// <summary>Linear weights under their own names would be [out × in] already; they are taken from the graph instead.</summary>
    [GeneratedRegex(@"(query|key|value|dense)\.weight$")]
    private static partial Regex LinearWeight();

    [GeneratedRegex(@"^encoder\.layer\.(\d+)\.")]
    private static partial Regex LayerIndex();
}
