// Golden token ids for the post-processor of the kit's tokenizer.json reader, from an independent implementation:
// Tokenizers.DotNet 1.4.1 wraps Hugging Face's Rust tokenizers, and its Encode adds the special tokens the
// post-processor puts around a sequence (add_special_tokens = true). Each case puts one post_processor into one of
// the tokenizer files below. Run from the repository root (needs the NuGet feed once):
//   dotnet run tests/golden/make_postprocessor_golden.cs
// Writes tests/golden/postprocessor_golden.json.
#:package Tokenizers.DotNet@1.4.1
#:package Tokenizers.DotNet.runtime.linux-x64@1.4.1
#:property ManagePackageVersionsCentrally=false
#:property PublishAot=false

using System.Text.Json;
using System.Text.Json.Nodes;
using Tokenizers.DotNet;

const string Llama = "tests/golden/tokenizers/tiny-sentencepiece.json";
const string Gpt2 = "data/tokenizer/tokenizer.json";

static JsonNode Special(string token) => new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = token, ["type_id"] = 0 } };
static JsonNode SequenceA() => new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } };
static JsonNode Template(JsonNode[] single, params (string Token, int[] Ids)[] tokens)
{
    var special = new JsonObject();
    foreach (var (token, ids) in tokens)
        special[token] = new JsonObject
        {
            ["id"] = token,
            ["ids"] = new JsonArray([.. ids.Select(id => (JsonNode)id)]),
            ["tokens"] = new JsonArray([.. ids.Select(_ => (JsonNode)token)]),
        };
    return new JsonObject
    {
        ["type"] = "TemplateProcessing",
        ["single"] = new JsonArray(single),
        ["pair"] = new JsonArray([.. single.Select(p => p.DeepClone())]),
        ["special_tokens"] = special,
    };
}
static JsonNode Pair(string type, string cls, int clsId, string sep, int sepId) => new JsonObject
{
    ["type"] = type,
    ["sep"] = new JsonArray(sep, sepId),
    ["cls"] = new JsonArray(cls, clsId),
};
static JsonNode ByteLevel() => new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = false, ["use_regex"] = true };

var cases = new (string Name, string File, JsonNode? PostProcessor)[]
{
    ("llama: <s> $A", Llama, Template([Special("<s>"), SequenceA()], ("<s>", [1]))),
    ("llama: <s> $A </s>", Llama, Template([Special("<s>"), SequenceA(), Special("</s>")], ("<s>", [1]), ("</s>", [2]))),
    ("llama: $A </s>", Llama, Template([SequenceA(), Special("</s>")], ("</s>", [2]))),
    ("llama: a special token of two ids", Llama, Template([Special("<bos2>"), SequenceA()], ("<bos2>", [1, 2]))),
    ("RobertaProcessing", Llama, Pair("RobertaProcessing", "<s>", 1, "</s>", 2)),
    ("BertProcessing", Llama, Pair("BertProcessing", "<s>", 1, "</s>", 2)),
    ("none", Llama, null),
    ("gpt-2: ByteLevel", Gpt2, ByteLevel()),
    ("llama-3 layout: Sequence [ByteLevel, <|endoftext|> $A]", Gpt2,
        new JsonObject { ["type"] = "Sequence", ["processors"] = new JsonArray(ByteLevel(), Template([Special("<|endoftext|>"), SequenceA()], ("<|endoftext|>", [0]))) }),
};
string[] texts = ["Hello, my dog", "hello world", "", " the world", "hello<s>world</s>"];

var folder = Directory.CreateTempSubdirectory("postprocessor-golden-").FullName;
var golden = new JsonArray();
foreach (var (name, file, postProcessor) in cases)
{
    var json = JsonNode.Parse(File.ReadAllText(file))!;
    json["post_processor"] = postProcessor?.DeepClone();
    string path = Path.Combine(folder, "tokenizer.json");
    File.WriteAllText(path, json.ToJsonString());
    using var tokenizer = new Tokenizer(path);
    foreach (string text in texts)
        golden.Add(new JsonObject
        {
            ["case"] = name,
            ["tokenizer"] = file,
            ["post_processor"] = postProcessor?.DeepClone(),
            ["text"] = text,
            ["ids"] = new JsonArray([.. tokenizer.Encode(text).Select(id => (JsonNode)(int)id)]),
        });
}
Directory.Delete(folder, recursive: true);
File.WriteAllText("tests/golden/postprocessor_golden.json", golden.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
Console.WriteLine($"{golden.Count} cases written to tests/golden/postprocessor_golden.json");
