// llama.cpp (through node-llama-cpp 3.21.1, CPU build) on GGUF files the kit wrote: batch forward with every token's
// logits, KV-cache generation, and the log-probabilities of a token sequence, printed as one JSON object.
// Usage: node llama-peer.mjs WORK.json   (written by `dotnet run --project benchmarks/LlmFp4.Kit.Benchmarks -- peers`)
import fs from "node:fs";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const work = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: work.threads });
const now = () => performance.now() / 1000;
const result = { peer: "llama.cpp", package: "node-llama-cpp 3.21.1", threads: work.threads, files: {} };

for (const [precision, path] of Object.entries(work.gguf)) {
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
  const entry = {};

  // Batch forward: every sequence in its own context sequence, one llama_decode batch, logits for every token.
  const sequences = work.forwardBatch.length, length = work.forwardBatch[0].length;
  const batch = await model.createContext({ contextSize: sequences * length, batchSize: sequences * length, sequences, threads: work.threads });
  const seqs = Array.from({ length: sequences }, () => batch.getSequence());
  const forward = async () => {
    await Promise.all(seqs.map(seq => seq.clearHistory()));
    await Promise.all(seqs.map((seq, s) => seq.controlledEvaluate(work.forwardBatch[s].map(t => [t, { generateNext: { token: true } }]))));
  };
  await forward();
  let best = Infinity;
  for (let i = 0; i < work.repeats; i++) { const t0 = now(); await forward(); best = Math.min(best, now() - t0); }
  entry.forwardTokensPerSecond = sequences * length / best;
  await batch.dispose();

  // Generation: prompt prefill, then greedy tokens one at a time with the KV cache. node-llama-cpp hands every token
  // back to JavaScript, and llama.cpp's worker threads spin between tokens: with as many workers as cores they starve the
  // JavaScript thread (64 tokens at 2 threads on 2 cores: ~70 tokens/s, at 1 thread ~460). So generation is timed at 1
  // thread and at the full count and the better one is reported with its thread count: the peer's best, not its worst.
  for (const threads of [...new Set([1, work.threads])]) {
    const context = await model.createContext({ contextSize: work.prompt.length + work.generate + 8, threads });
    const sequence = context.getSequence();
    const generate = async () => {
      await sequence.clearHistory();
      const tokens = [];
      for await (const token of sequence.evaluate(work.prompt, { temperature: 0 })) {
        tokens.push(token);
        if (tokens.length === work.generate) break;
      }
      return tokens;
    };
    entry.generated = await generate();
    best = Infinity;
    for (let i = 0; i < work.repeats; i++) { const t0 = now(); await generate(); best = Math.min(best, now() - t0); }
    const rate = work.generate / best;
    if (entry.generateTokensPerSecond === undefined || rate > entry.generateTokensPerSecond) {
      entry.generateTokensPerSecond = rate;
      entry.generateThreads = threads;
    }
    await context.dispose();
  }

  // Log-probability of each next token of the check sequence.
  const context = await model.createContext({ contextSize: work.logprobTokens.length + 8, threads: work.threads });
  const sequence = context.getSequence();
  const outputs = await sequence.controlledEvaluate(work.logprobTokens.map(t => [t, { generateNext: { probabilities: true } }]));
  entry.logprobs = work.logprobTokens.slice(1).map((t, i) => Math.log(outputs[i].next.probabilities.get(t) ?? 0));
  await context.dispose();
  await model.dispose();
  result.files[precision] = entry;
}
console.log(JSON.stringify(result));
