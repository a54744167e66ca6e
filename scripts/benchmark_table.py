#!/usr/bin/python3
"""Verifies every benchmark task with its example candidate and prints a Markdown table of the
measured speedups (candidate vs eager, both medians from one `anvil verify` run each).

    scripts/benchmark_table.py [--anvil build/anvil] [--threads N]
"""

import argparse
import glob
import json
import os
import platform
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def verify(anvil, task, candidate, threads):
    args = [anvil, "verify", "--task", task, "--candidate", candidate, "--json"]
    if threads:
        args += ["--threads", str(threads)]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode == 2:
        sys.exit(f"anvil verify could not run {task}:\n{done.stderr}")
    return json.loads(done.stdout)


def row(category, name, report):
    dynamic = "yes" if len(report["cases"]) > 1 else "no"
    if report["status"] != "pass":
        return f"| {category} | {name} | {dynamic} | FAIL: {report['stage']} ({report['error_class']}) | | |"
    t = report["timing"]
    c, e = t["candidate"], t["reference"]
    return (
        f"| {category} | {name} | {dynamic} | {c['median_ms']:.3f} ({c['p25_ms']:.3f}–{c['p75_ms']:.3f}) "
        f"| {e['median_ms']:.3f} ({e['p25_ms']:.3f}–{e['p75_ms']:.3f}) | {t['speedup']:.2f}x |"
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--anvil", default=os.path.join(ROOT, "build", "anvil"))
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    rows = []
    threads = None
    for task in sorted(glob.glob(os.path.join(ROOT, "benchmarks", "*", "*.py"))):
        category = os.path.basename(os.path.dirname(task))
        name = os.path.splitext(os.path.basename(task))[0]
        candidate = os.path.join(ROOT, "knowledge", "cpp", "examples", "torch", f"{name}.py")
        report = verify(args.anvil, task, candidate, args.threads)
        if report.get("timing"):
            threads = report["timing"]["candidate"]["threads"]
        rows.append(row(category, name, report))
        print(rows[-1], file=sys.stderr)
    print(f"Machine: {cpu_model()}, {os.cpu_count()} CPUs, {threads} threads for both sides; "
          f"Python {platform.python_version()}; median ms (p25–p75) of one `anvil verify` run each.\n")
    print("| category | task | dynamic | candidate ms | eager ms | speedup |")
    print("| --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
