#!/usr/bin/python3
"""Runs `anvil generate --llm builtin` over the benchmark suite and prints the README's tables:
per category, how many tasks were covered (a sketch was designed) and verified, and the geometric
mean speedup over eager PyTorch with its spread; then one row per task.

    scripts/builtin_report.py [--anvil build/anvil] [--out runs/builtin-bench] [--report-only]

Each speedup is one `anvil verify` run's ratio of medians (eager / candidate, same process
layout, same threads). The spread of a task is the interquartile bound of that ratio
(eager p25 / candidate p75 .. eager p75 / candidate p25); a category's spread is the geometric
mean of those bounds, and its range the slowest and fastest task.
"""

import argparse
import glob
import json
import math
import os
import subprocess
import sys

from benchmark_table import cpu_model  # scripts/ is on the path when a script runs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def run_suite(anvil, out, tune_configs):
    os.makedirs(out, exist_ok=True)
    args = [anvil, "generate", "--llm", "builtin", "--tasks", os.path.join(ROOT, "benchmarks"),
            "--out", out, "--db", os.path.join(out, "anvil.db"), "--json",
            "--tune-configs", str(tune_configs)]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode == 2 and not done.stdout.strip():
        sys.exit(f"anvil generate failed:\n{done.stderr}")
    with open(os.path.join(out, "report.json"), "w") as f:
        f.write(done.stdout)
    return json.loads(done.stdout)


def task_row(entry):
    task = entry["task"]
    category = os.path.basename(os.path.dirname(task))
    name = os.path.splitext(os.path.basename(task))[0]
    row = {"category": category, "name": name, "status": entry.get("status", "failed"),
           "reason": entry.get("error") or entry.get("reason", "")}
    best = os.path.join(entry.get("run_dir", ""), "best", "verify.json")
    if row["status"] == "success" and os.path.exists(best):
        with open(best) as f:
            timing = json.load(f).get("timing") or {}
        if timing:
            c, e = timing["candidate"], timing["reference"]
            row.update(speedup=timing["speedup"], low=e["p25_ms"] / c["p75_ms"], high=e["p75_ms"] / c["p25_ms"],
                       candidate_ms=c["median_ms"], eager_ms=e["median_ms"])
        tuning = os.path.join(entry["run_dir"], "tuning.json")
        if os.path.exists(tuning):
            with open(tuning) as f:
                t = json.load(f)
            kept = t["trials"][t["best_attempt"] - 1]["config"] if t.get("best_attempt") else ""
            row.update(configs=len(t["trials"]), kept=kept, tune_s=t.get("elapsed_seconds", 0))
    return row


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--anvil", default=os.path.join(ROOT, "build", "anvil"))
    parser.add_argument("--out", default=os.path.join(ROOT, "runs", "builtin-bench"))
    parser.add_argument("--tune-configs", type=int, default=3, help="configurations tried per task")
    parser.add_argument("--report-only", action="store_true", help="read OUT/report.json again")
    args = parser.parse_args()
    if args.report_only:
        with open(os.path.join(args.out, "report.json")) as f:
            report = json.load(f)
    else:
        report = run_suite(args.anvil, args.out, args.tune_configs)
    rows = sorted((task_row(e) for e in report), key=lambda r: (r["category"], r["name"]))

    print(f"Machine: {cpu_model()}, {os.cpu_count()} CPUs; eager = PyTorch {torch_version()} on the same threads.\n")
    print("| category | tasks | designed | verified | geomean speedup | IQR bounds | range |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    all_speedups = []
    for category in sorted({r["category"] for r in rows}):
        group = [r for r in rows if r["category"] == category]
        designed = [r for r in group if "no rule" not in r["reason"] and "built-in designer" not in r["reason"]]
        timed = [r for r in group if "speedup" in r]
        all_speedups += [r["speedup"] for r in timed]
        verified = sum(r["status"] == "success" for r in group)
        if timed:
            speed = f"{geomean([r['speedup'] for r in timed]):.2f}x"
            bounds = f"{geomean([r['low'] for r in timed]):.2f}–{geomean([r['high'] for r in timed]):.2f}x"
            spread = f"{min(r['speedup'] for r in timed):.2f}–{max(r['speedup'] for r in timed):.2f}x"
        else:
            speed = bounds = spread = "-"
        print(f"| {category} | {len(group)} | {len(designed)} | {verified} | {speed} | {bounds} | {spread} |")
    print(f"| all | {len(rows)} | | {sum(r['status'] == 'success' for r in rows)} | {geomean(all_speedups):.2f}x | | |\n")

    print("| task | status | speedup (IQR bounds) | kernel ms | eager ms | configs tried, kept |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        if "speedup" in r:
            print(f"| {r['category']}/{r['name']} | verified | {r['speedup']:.2f}x ({r['low']:.2f}–{r['high']:.2f}) "
                  f"| {r['candidate_ms']:.3f} | {r['eager_ms']:.3f} | {r.get('configs', 0)}, {r.get('kept', '')} |")
        else:
            print(f"| {r['category']}/{r['name']} | {r['status']}: {r['reason'][:90]} | | | | |")


def torch_version():
    done = subprocess.run(["/usr/bin/python3", "-c", "import torch; print(torch.__version__)"],
                          capture_output=True, text=True, check=False)
    return done.stdout.strip() or "?"


if __name__ == "__main__":
    main()
