using BenchmarkDotNet.Running;
using LlmFp4.Kit.Benchmarks;

if (args.Length > 0 && args[0] == "peers") return PeerBenchmark.Run(args[1..]);
if (args.Length > 0 && args[0] == "cost-curve") return CostCurveBenchmark.Run(args[1..]);
if (args.Length > 0 && args[0] == "fpq-ratio") return FpqRatioBenchmark.Run(args[1..]);
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
