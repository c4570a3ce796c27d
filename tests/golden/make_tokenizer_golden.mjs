// Golden token ids from an independent implementation of Hugging Face tokenizer.json, Tokenizers.js
// (npm @huggingface/tokenizers 0.2.0), for the C# BpeTokenizer tests. Run from the repository root:
//   d=$(mktemp -d) && (cd "$d" && npm install @huggingface/tokenizers@0.2.0) &&
//   NODE_PATH="$d/node_modules" node tests/golden/make_tokenizer_golden.mjs
// Writes tests/golden/tokenizer_golden.json.
import { createRequire } from "node:module";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";

const require = createRequire(import.meta.url);
const { Tokenizer } = require("@huggingface/tokenizers");

const tokenizers = {
  "data/tokenizer/tokenizer.json": [
    "Hello world",
    "In the beginning God created the heaven and the earth.",
    "  multiple   spaces,\ttabs\tand\nnew\n\nlines\n",
    "Numbers 1234567 and 3.14159; dates 1790–2016.",
    "Contractions: don't, I'll, we've, it's, they're, I'm, he'd.",
    "Unicode: café, naïve, Œuvre, ελληνικά, 東京, emoji 😀 and ‑ dashes — “quotes”.",
    "CAPITALS and MiXeD case, e-mail@example.org!?",
    "text<|endoftext|>more text",
    "trailing space ",
    " leading space",
  ],
  "tests/golden/tokenizers/tiny-sentencepiece.json": [
    "hello world", "the world", "hello wörld!", "hello\nworld", "héllo  the  world", " hello", "hello<s>world</s>",
  ],
  "tests/golden/tokenizers/tiny-metaspace.json": [
    "hello world", "hello  world", "héllo wörld", " hello",
  ],
};

// A LLaMA-3 style variant of the committed tokenizer: Split by LLaMA-3's pattern, then ByteLevel without its
// own regex, and ignore_merges. BpeTokenizerGoldenTests applies the same edit.
const llama3Pattern = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const variants = {
  "data/tokenizer/tokenizer.json#llama3-split": (json) => {
    json.pre_tokenizer = {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: llama3Pattern }, behavior: "Isolated", invert: false },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    };
    json.model.ignore_merges = true;
    return json;
  },
};
tokenizers["data/tokenizer/tokenizer.json#llama3-split"] = [
  "I'VE seen 12345 things\r\n\r\n  ok?! They'll   go.",
  "Numbers 1234567 and 3.14159; dates 1790–2016.",
  "Unicode: café, naïve, 東京, emoji 😀 — “quotes”.\n\n\nEnd",
];

function load(name) {
  const [file, variant] = name.split("#");
  const json = JSON.parse(readFileSync(file, "utf8"));
  return new Tokenizer(variant ? variants[name](json) : json, {});
}

const golden = { generator: "@huggingface/tokenizers 0.2.0", llama3Pattern, cases: [] };
for (const [file, texts] of Object.entries(tokenizers)) {
  const tokenizer = load(file);
  for (const text of texts) {
    const ids = tokenizer.encode(text, { add_special_tokens: false }).ids;
    golden.cases.push({ tokenizer: file, text, ids, decoded: ids.length ? tokenizer.decode(ids) : "" });
  }
}

// The whole test split, as a count and a SHA-256 of the ids as little-endian int32.
const tokenizer = new Tokenizer(JSON.parse(readFileSync("data/tokenizer/tokenizer.json", "utf8")), {});
const text = readFileSync("data/corpus/test.txt", "utf8");
const ids = tokenizer.encode(text, { add_special_tokens: false }).ids;
const bytes = Buffer.alloc(ids.length * 4);
ids.forEach((id, i) => bytes.writeInt32LE(id, i * 4));
golden.testSplit = {
  tokenizer: "data/tokenizer/tokenizer.json",
  file: "data/corpus/test.txt",
  textSha256: createHash("sha256").update(text, "utf8").digest("hex"),
  count: ids.length,
  idsSha256: createHash("sha256").update(bytes).digest("hex"),
};
writeFileSync("tests/golden/tokenizer_golden.json", JSON.stringify(golden, null, 1) + "\n");
console.log(`${golden.cases.length} cases, test split ${ids.length} tokens`);
