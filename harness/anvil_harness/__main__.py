"""Entry points the C++ Verifier runs, one process each:

    python -m anvil_harness static    --candidate C --result R
    python -m anvil_harness describe  --task T --seed S --result R
    python -m anvil_harness reference --task T --cases CASES --out DIR --init-seed S --result R
    python -m anvil_harness candidate --task T --candidate C --cases CASES --out DIR --init-seed S --result R
    python -m anvil_harness time      --task T [--candidate C] --case CASE --init-seed S --threads N --result R
    python -m anvil_harness materialize --task T --seed S --init-seed S --out DIR --result R
    python -m anvil_harness versions  --result R

Every command writes one JSON object to --result: {"ok": true, ...} or {"ok": false,
"error_class": ..., "message": ..., "violations": [...]}. Progress lines go to --progress, so a
process killed at its timeout still tells which stage it was in.
"""

import argparse
import faulthandler
import json
import sys


def _progress_writer(path):
    if not path:
        return lambda line: None
    stream = open(path, "a", buffering=1)

    def write(line):
        stream.write(line + "\n")
        stream.flush()

    return write


def _parser():
    parser = argparse.ArgumentParser(prog="anvil_harness")
    parser.add_argument("command", choices=["static", "describe", "reference", "candidate", "time", "materialize", "versions"])
    parser.add_argument("--task")
    parser.add_argument("--candidate")
    parser.add_argument("--cases", help="JSON file: [{id, dims, draw_seeds}]")
    parser.add_argument("--case", help="JSON object: {dims, seed}")
    parser.add_argument("--out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init-seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--budget", default="{}", help='JSON: {"warmup_s", "target_s", "min_repeats", "max_repeats"}')
    parser.add_argument("--result", required=True)
    parser.add_argument("--progress")
    return parser


def _run(args, progress):
    if args.command == "static":
        from .static_check import check_source

        with open(args.candidate) as f:
            violations, api_error = check_source(f.read(), args.candidate)
        if api_error:
            return {"ok": False, "error_class": "api", "message": api_error, "violations": violations}
        if violations:
            first = violations[0]
            message = f"{args.candidate}:{first['line']}:{first['column']}: {first['message']}"
            return {"ok": False, "error_class": "violation", "message": message, "violations": violations}
        return {"ok": True}
    if args.command == "versions":
        return _versions()

    import torch

    from .task import Task

    # Every command that runs kernels uses the Verifier's thread count: correctness runs with the
    # same parallelism as timing, so races and work-splitting bugs show up where outputs are checked.
    torch.set_num_threads(args.threads)
    task = Task(args.task)
    if args.command == "describe":
        from .describe import describe

        return {"ok": True, "spec": describe(task, args.seed)}
    if args.command == "materialize":
        from .correctness import materialize

        return {"ok": True, "inputs": materialize(task, args.seed, args.init_seed, args.out)}
    if args.command in ("reference", "candidate"):
        from .correctness import run_candidate, run_reference

        with open(args.cases) as f:
            cases = json.load(f)
        if args.command == "reference":
            run_reference(task, cases, args.out, args.init_seed, progress)
            return {"ok": True}
        notes = run_candidate(task, args.candidate, cases, args.out, args.init_seed, progress)
        return {"ok": True, "notes": notes}
    from .timing import run_timing

    case = json.loads(args.case)
    budget = {"warmup_s": 0.2, "target_s": 1.0, "min_repeats": 10, "max_repeats": 10000}
    budget.update(json.loads(args.budget))
    progress("timing " + ("candidate" if args.candidate else "reference"))
    stats = run_timing(task, args.candidate, case["dims"], case["seed"], args.init_seed, args.threads, budget)
    return {"ok": True, "timing": stats}


def _versions():
    import platform

    found = {"python": platform.python_version(), "executable": sys.executable}
    for name in ("torch", "numpy", "triton"):
        try:
            module = __import__(name)
            found[name] = module.__version__
        except Exception as exc:  # a missing or broken package is a finding, not a failure
            found[name] = None
            found[name + "_error"] = f"{type(exc).__name__}: {exc}"
    if found.get("torch"):
        import torch

        found["torch_cuda"] = torch.cuda.is_available()
        found["torch_threads"] = torch.get_num_threads()
    return {"ok": True, "versions": found}


def main():
    faulthandler.enable()  # a segfaulting kernel leaves a Python stack trace on stderr
    args = _parser().parse_args()
    progress = _progress_writer(args.progress)
    from .errors import HarnessError

    try:
        result = _run(args, progress)
    except HarnessError as exc:
        result = {"ok": False, "error_class": exc.error_class, "message": exc.message, "violations": exc.violations}
    with open(args.result, "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
