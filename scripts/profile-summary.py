#!/usr/bin/env python3
"""Summarises a dotnet-trace Speedscope file (`dotnet-trace collect --format Speedscope -- dotnet llmfp4.dll ...`):
thread time spent inside each method of interest (inclusive, the method anywhere on the stack; a nested call of the same
method counts once) and the methods where it is spent themselves (exclusive), summed over threads. Only samples the
profiler marks as running (CPU_TIME) count, and not those in a wait or spin, so the figures are busy thread time.

usage: scripts/profile-summary.py FILE.speedscope.json [PATTERN ...]   (patterns match method names, substring)
"""
import json
import sys
from collections import defaultdict

IDLE = ("WaitHandle", "WaitOne", "LowLevelLifoSemaphore", "Monitor.Wait", "Thread.Sleep", "SemaphoreSlim.Wait",
        "PortableThreadPool+GateThread", "WaitForSignal", "ManualResetEventSlim.Wait", "Task.SpinThenBlockingWait",
        "Task.InternalWaitCore", "UNMANAGED_CODE_TIME", "SpinWait", "Thread.SpinWait")


def main():
    path, patterns = sys.argv[1], sys.argv[2:]
    data = json.load(open(path))
    frames = [f["name"] for f in data["shared"]["frames"]]
    inclusive, exclusive = defaultdict(float), defaultdict(float)
    busy = 0.0
    for profile in data["profiles"]:
        stack, last = [], None
        for event in profile["events"]:
            at = event["at"]
            if last is not None and stack:
                dt = at - last
                names = [frames[f] for f in stack if frames[f] != "CPU_TIME"]
                top = names[-1] if names else "CPU_TIME"
                if frames[stack[-1]] == "CPU_TIME" and not any(word in top for word in IDLE):
                    busy += dt
                    exclusive[top] += dt
                    for name in set(names):
                        inclusive[name] += dt
            last = at
            if event["type"] == "O":
                stack.append(event["frame"])
            elif stack:
                stack.pop()
    print(f"busy thread time: {busy / 1000:.1f} s")
    print("\ninclusive (s, % of busy):")
    for pattern in patterns:
        matched = sorted(((v, k) for k, v in inclusive.items() if pattern in k), reverse=True)[:3]
        for v, k in matched:
            print(f"  {v / 1000:8.1f}  {100 * v / busy:5.1f} %  {k[:150]}")
    print("\nexclusive, top 25:")
    for k, v in sorted(exclusive.items(), key=lambda kv: -kv[1])[:25]:
        print(f"  {v / 1000:8.1f}  {100 * v / busy:5.1f} %  {k[:150]}")


if __name__ == "__main__":
    main()
