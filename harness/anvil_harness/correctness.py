"""The two correctness processes: the reference's and the candidate's.

They never share memory: each builds the same inputs from the same seeds and writes its outputs
to its own folder; the C++ Verifier compares the files. The candidate runs first, so no reference
result exists anywhere while candidate code runs.
"""

import os
import traceback

import torch

from .errors import HarnessError
from .guard import DispatchGuard
from .task import load_module, seed_everything
from .tensors import as_output_list, bit_equal, snapshot, spans_overlap, to_candidate_value, write_outputs


def output_prefix(out_dir, case_id, draw):
    return os.path.join(out_dir, f"{case_id}.{draw}")


def run_reference(task, cases, out_dir, init_seed, progress):
    reference = task.make_reference(init_seed)
    for case in cases:
        for draw, seed in enumerate(case["draw_seeds"]):
            progress(f"reference case={case['id']} draw={draw}")
            inputs = task.make_inputs(case["dims"], seed)
            try:
                with torch.no_grad():
                    result = reference(*inputs)
            except Exception as exc:
                raise HarnessError(
                    "usage", f"the reference itself failed on case {case['id']} {case['dims']}: {_last_frames(exc)}"
                ) from exc
            write_outputs(output_prefix(out_dir, case["id"], draw), as_output_list(result))


def materialize(task, seed, init_seed, out_dir):
    """Writes the default case's inputs (forward's, then the Model's parameters and buffers) and
    the reference outputs, for running a sketch against the task. Returns the inputs' names."""
    dims = {d["name"]: d["default"] for d in task.dynamic_dims()}
    inputs = task.make_inputs(dims, seed)
    reference = task.make_reference(init_seed)
    names = task.forward_parameter_names(len(inputs))
    tensors = [as_output_list(v)[0] for v in inputs]
    if isinstance(reference, torch.nn.Module):
        for name, value in reference.state_dict().items():
            names.append(name)
            tensors.append(value)
    write_outputs(os.path.join(out_dir, "inputs"), tensors)
    with torch.no_grad():
        result = reference(*inputs)
    write_outputs(os.path.join(out_dir, "outputs"), as_output_list(result))
    return names


def build_candidate(task, candidate_path, init_seed):
    """Imports the candidate and constructs ModelNew; raises HarnessError(compile|api|runtime)."""
    from anvil_rt.cpp import CompileError

    try:
        module = load_module(candidate_path, "anvil_candidate")
        model_class = getattr(module, "ModelNew", None)
        if model_class is None:
            raise HarnessError("api", f"{candidate_path} defines no class ModelNew")
        seed_everything(init_seed)
        model = model_class(*task.init_inputs())
    except HarnessError:
        raise
    except CompileError as exc:
        raise HarnessError("compile", str(exc)) from exc
    except OSError as exc:  # ctypes could not load the built library (undefined symbol, ...)
        raise HarnessError("compile", f"loading the built kernel failed: {exc}") from exc
    except (SyntaxError, ImportError, TypeError, AttributeError) as exc:
        raise HarnessError("api", f"building ModelNew failed: {_last_frames(exc)}") from exc
    except Exception as exc:
        raise HarnessError("runtime", f"building ModelNew failed: {_last_frames(exc)}") from exc
    model.anvil_weight_note = _share_reference_weights(task, model, init_seed)
    return model


def _share_reference_weights(task, model, init_seed):
    """Copies Model's parameters when ModelNew declares the same ones, whatever its init order.
    Returns a note when ModelNew has parameters that could not be matched (a likely cause of a
    numerical failure), else None."""
    if task.frontend != "torch" or not isinstance(model, torch.nn.Module):
        return None
    theirs = task.make_reference(init_seed).state_dict()
    ours = model.state_dict()
    if ours and ours.keys() == theirs.keys() and all(ours[k].shape == theirs[k].shape for k in ours):
        model.load_state_dict(theirs)
        return None
    if not ours or not theirs:
        return None
    return (
        "ModelNew's parameters were not copied from Model because their names or shapes differ "
        f"(ModelNew: {sorted(ours)}; Model: {sorted(theirs)}); mirror Model's parameter names"
    )


def call_guarded(model, inputs, where):
    """One forward under the dispatch guard; raises HarnessError(runtime|violation)."""
    guard = DispatchGuard()
    try:
        with torch.no_grad(), guard:
            result = model(*inputs)
    except Exception as exc:
        raise HarnessError("runtime", f"forward raised during {where}: {_last_frames(exc)}") from exc
    if guard.violations:
        raise HarnessError("violation", f"framework compute ran during {where}", guard.violation_records(where))
    return result


def run_candidate(task, candidate_path, cases, out_dir, init_seed, progress):
    progress("build")
    model = build_candidate(task, candidate_path, init_seed)
    names = None
    previous = []
    for case in cases:
        for draw, seed in enumerate(case["draw_seeds"]):
            where = f"case {case['id']} {case['dims']} draw {draw}"
            progress(f"correctness case={case['id']} draw={draw}")
            inputs = [to_candidate_value(v) for v in task.make_inputs(case["dims"], seed)]
            names = names or task.forward_parameter_names(len(inputs))
            before = snapshot(inputs)
            outputs = as_output_list(call_guarded(model, inputs, where))
            _check_inputs_unchanged(inputs, before, names, where)
            _check_no_aliasing(outputs, inputs, previous, names, where)
            write_outputs(output_prefix(out_dir, case["id"], draw), outputs)
            previous = outputs
    note = getattr(model, "anvil_weight_note", None)
    return [note] if note else []


def _check_inputs_unchanged(inputs, before, names, where):
    changed = [names[i] for i, (now, then) in enumerate(zip(inputs, before)) if then is not None and not bit_equal(now, then)]
    if changed:
        raise HarnessError(
            "violation",
            f"the candidate wrote into its input(s) {', '.join(changed)} during {where}",
            [{"rule": "input-modified", "message": f"input {n} was modified by forward"} for n in changed],
        )


def _check_no_aliasing(outputs, inputs, previous, names, where):
    found = []
    tensors_in = [(names[i], t) for i, t in enumerate(inputs) if isinstance(t, torch.Tensor)]
    for k, out in enumerate(outputs):
        found += [f"output {k} aliases input {n}" for n, t in tensors_in if spans_overlap(out, t)]
        found += [f"output {k} aliases output {j}" for j in range(k) if spans_overlap(out, outputs[j])]
        found += [
            f"output {k} reuses the memory of output {j} of the previous call (a cached result)"
            for j, old in enumerate(previous)
            if spans_overlap(out, old)
        ]
    if found:
        raise HarnessError(
            "violation",
            f"{found[0]} during {where}",
            [{"rule": "aliasing", "message": m} for m in found],
        )


def _last_frames(exc, limit=12):
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    text = "".join(lines).rstrip()
    kept = text.splitlines()[-limit:]
    return "\n".join(kept)
