"""`time`: wall-clock timing of one side (reference eager or candidate) in a clean process.

The Verifier runs the two sides in separate processes with the same thread count and holds a
machine-wide lock meanwhile, so the two measurements see the same, quiet machine.
"""

import os
import statistics
import time

import torch

from .correctness import build_candidate, call_guarded
from .tensors import to_candidate_value


def measure(fn, args, warmup_s, target_s, min_repeats, max_repeats):
    """Warm-up, then timed calls until target_s of samples and min_repeats are reached."""
    with torch.no_grad():
        start = time.perf_counter()
        warmups = 0
        while warmups < 3 or time.perf_counter() - start < warmup_s:
            fn(*args)
            warmups += 1
        samples = []
        total = 0.0
        while len(samples) < max_repeats and (len(samples) < min_repeats or total < target_s):
            t0 = time.perf_counter_ns()
            fn(*args)
            elapsed = (time.perf_counter_ns() - t0) / 1e9
            samples.append(elapsed)
            total += elapsed
    return summarize(samples, warmups)


def summarize(samples, warmups):
    ordered = sorted(samples)
    ms = [s * 1e3 for s in ordered]

    def quantile(q):
        return ms[min(len(ms) - 1, int(q * (len(ms) - 1) + 0.5))]

    return {
        "median_ms": statistics.median(ms),
        "mean_ms": statistics.fmean(ms),
        "stdev_ms": statistics.stdev(ms) if len(ms) > 1 else 0.0,
        "min_ms": ms[0],
        "max_ms": ms[-1],
        "p25_ms": quantile(0.25),
        "p75_ms": quantile(0.75),
        "repeats": len(ms),
        "warmup_calls": warmups,
    }


def run_timing(task, candidate_path, dims, seed, init_seed, threads, budget):
    torch.set_num_threads(threads)
    load_before = os.getloadavg()[0]
    inputs = task.make_inputs(dims, seed)
    if candidate_path is None:
        fn = task.make_reference(init_seed)
    else:
        fn = build_candidate(task, candidate_path, init_seed)
        inputs = [to_candidate_value(v) for v in inputs]
        # The guard stays on for one untimed call, so timing runs the code correctness saw.
        call_guarded(fn, inputs, "the timing warm-up")
    stats = measure(fn, inputs, budget["warmup_s"], budget["target_s"], budget["min_repeats"], budget["max_repeats"])
    stats["threads"] = torch.get_num_threads()
    stats["load_average"] = max(load_before, os.getloadavg()[0])
    return stats
