using System.Text.Json;
using BenchmarkDotNet.Running;
using LlmFp4.Kit.Benchmarks;

Func<string[], int>? verb = args.Length == 0 ? null : args[0] switch
{
    "peers" => PeerBenchmark.Run,
    "cost-curve" => CostCurveBenchmark.Run,
    "fpq-ratio" => FpqRatioBenchmark.Run,
    _ => null,
};
if (verb is null)
{
    BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    return 0;
}
try
{
    return verb(args[1..]);
}
catch (Exception e) when (e is ArgumentException or IOException or InvalidDataException or JsonException)
{
    // Bad input (an option, a path, a data file) is one line, as in the llmfp4 CLI; anything else keeps its stack trace.
    Console.Error.WriteLine($"{args[0]}: {e.Message}");
    return 1;
}
