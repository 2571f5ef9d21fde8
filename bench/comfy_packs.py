"""How much of a folder of ComfyUI packs nodeflow loads and runs.

    python bench/comfy_packs.py FOLDER [--timeout 20] [--json]

FOLDER holds pack folders (a ComfyUI ``custom_nodes`` folder). They are loaded into a scratch
base folder (linked, never copied or changed; requirements are not installed). Per pack it
prints the classes found, the classes loaded, the nodes that ran a smoke run, and the top
reasons for failure. A smoke run calls the node once with its defaults and small made-up
values for IMAGE (1x64x64x3), MASK (1x64x64), LATENT (1x4x8x8) and STRING/INT/FLOAT/BOOLEAN
links, and MODEL, CLIP, VAE and CONDITIONING from the built-in nodeflow-tiny model (so packs
that call ComfyUI's core classes, ``nodes.KSampler`` and the like, really sample; leave it out
with ``--no-models``). A node that takes inputs of any name (a LoRA stack's rows) also gets one
made-up row, ``lora_1``, checked as the engine checks such values. Nodes with another required
link type (a pack's own type without a default) are counted as "not smoke-runnable", not as
failures.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import json
import re
import signal
import sys
import tempfile
import threading
from pathlib import Path

from nodeflow.comfy_compat.missing import MissingComfyAPI
from nodeflow.engine.context import NodeContext
from nodeflow.engine.validate import literal_problem
from nodeflow.engine.events import ignore
from nodeflow.flow import Expansion
from nodeflow.plugins import load_registry
from nodeflow.settings import Settings
from nodeflow.workflow import parse_workflow

EXTRA_ROW = {"lora_1": {"on": True, "lora": "none.safetensors", "strength": 1.0}}
"""What a smoke run gives a node that takes inputs of any name, besides its defaults."""
SAMPLE_TYPES = {"IMAGE", "MASK", "LATENT", "STRING", "INT", "FLOAT", "BOOLEAN", "*"}
MODEL_TYPES = {"MODEL", "CLIP", "VAE", "CONDITIONING"}
_MODELS: dict = {}


def tiny_models(registry, settings: Settings) -> dict:
    """MODEL, CLIP, VAE and CONDITIONING values from the built-in nodeflow-tiny model."""
    if not _MODELS:
        ctx = NodeContext(node_id="models", type_name="CheckpointLoader", run_id="bench",
                          settings=settings, listener=ignore, interrupt=threading.Event())
        model, clip, vae = registry.get("CheckpointLoader").fn(checkpoint="nodeflow-tiny",
                                                               ctx=ctx)
        encode = registry.get("TextEncode")
        kwargs = {"ctx": ctx} if encode.wants_ctx else {}
        _MODELS.update(MODEL=model, CLIP=clip, VAE=vae,
                       CONDITIONING=encode.fn(clip=clip, text="a digit", **kwargs))
    return _MODELS


def sample(type_name: str):
    import torch

    from nodeflow.diffusion.latent import LatentBatch

    if type_name in _MODELS:
        return _MODELS[type_name]
    gen = torch.Generator().manual_seed(0)
    return {"IMAGE": lambda: torch.rand(1, 64, 64, 3, generator=gen),
            "MASK": lambda: torch.rand(1, 64, 64, generator=gen),
            "LATENT": lambda: LatentBatch(torch.randn(1, 4, 8, 8, generator=gen)),
            "STRING": lambda: "a photo of a cat", "INT": lambda: 1, "FLOAT": lambda: 0.5,
            "BOOLEAN": lambda: True, "*": lambda: torch.rand(1, 64, 64, 3, generator=gen),
            }[type_name]()


class Timeout(Exception):
    pass


def smoke(node_def, settings: Settings, timeout: float) -> str | None:
    """None if the node ran; else why not ("skip: ..." when it cannot be smoke-run)."""
    kwargs = {}
    for name, spec in node_def.inputs.items():
        if spec.field.has_default and spec.field.default is not None:
            kwargs[name] = spec.field.default
        elif spec.required or spec.lazy:
            if spec.socket.type_name not in SAMPLE_TYPES | set(_MODELS):
                return f"skip: needs a {spec.socket.type_name} input"
            kwargs[name] = sample(spec.socket.type_name)
        if spec.is_list and name in kwargs:
            kwargs[name] = [kwargs[name]]
    literals = {k: v for k, v in kwargs.items() if isinstance(v, (int, float, str, bool))}
    if getattr(node_def, "extra_inputs", None) is not None:
        extra = dict(EXTRA_ROW)  # as the widgets of a LoRA stack's editor extension hold
        node_def = node_def.for_inputs(extra)
        for name, value in extra.items():
            problem = literal_problem(node_def.inputs[name], value)
            if problem is not None:
                return f"extra input {name} refused: {problem}"
        kwargs.update(extra)
        literals.update(extra)
    workflow = parse_workflow({"nodeflow": 1, "nodes": {"smoke": {
        "type": node_def.type_name, "inputs": literals}}})
    ctx = NodeContext(node_id="smoke", type_name=node_def.type_name, run_id="bench",
                      settings=settings, listener=ignore, interrupt=threading.Event(),
                      workflow=workflow)

    def alarm(*_):
        raise Timeout(f"took more than {timeout:g} s")
    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        result = node_def.fn(ctx=ctx, **kwargs)
        if node_def.is_async:
            import asyncio
            result = asyncio.run(result)
        if not isinstance(result, Expansion):
            node_def.outputs_from_result(result)
        return None
    except Exception as exc:  # noqa: BLE001 - every failure is a data point
        return reason(exc)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def reason(exc: BaseException | str) -> str:
    """A failure reason with the specifics (numbers, quoted names) blurred, for counting."""
    if isinstance(exc, MissingComfyAPI):
        return f"needs ComfyUI internals: {exc.api}"
    text = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    text = text.splitlines()[0] if text else "?"
    text = text.split(" is not provided by nodeflow")[0]
    return re.sub(r"\d+", "N", text)[:120]


def measure(folder: Path, timeout: float, models: bool = True) -> list[dict]:
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        (base / "custom_nodes").mkdir()
        for pack in sorted(folder.iterdir()):
            if pack.is_dir() and not pack.name.startswith((".", "_")):
                (base / "custom_nodes" / pack.name).symlink_to(pack.resolve())
        settings = Settings.from_args(base)
        for name in ("input", "output", "temp"):
            (base / name).mkdir()
        registry = load_registry(settings, builtin=True, entry_points=False)
        if models:
            tiny_models(registry, settings)
        rows = []
        import_failures = {f.pack: f.reason for f in registry.failures
                           if f.pack not in registry.packs}
        for pack_name, why in import_failures.items():
            rows.append({"pack": pack_name, "found": 0, "loaded": 0, "ran": 0, "skipped": 0,
                         "reasons": {f"pack import failed: {reason(why)}": 1}})
        for pack in registry.packs.values():
            if pack.comfy is None:
                continue
            reasons = collections.Counter(reason(r) for r in pack.comfy["failed"].values())
            ran = skipped = 0
            for type_name in pack.node_types:
                why = smoke(registry.get(type_name), settings, timeout)
                if why is None:
                    ran += 1
                elif why.startswith("skip: "):
                    skipped += 1
                else:
                    reasons[f"run: {why}"] += 1
            rows.append({"pack": pack.name, "found": pack.comfy["classes"],
                         "loaded": len(pack.node_types), "ran": ran, "skipped": skipped,
                         "reasons": dict(reasons.most_common(5)),
                         "missing_requirements": pack.comfy["missing_requirements"]})
        return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per smoke run")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-models", action="store_true",
                        help="no MODEL/CLIP/VAE/CONDITIONING samples (nodes needing them are "
                             "not smoke-run)")
    args = parser.parse_args()
    if not args.folder.is_dir():
        print(f"error: {args.folder} is not a folder", file=sys.stderr)
        return 2
    with contextlib.redirect_stdout(sys.stderr):  # what the packs print while they run
        rows = measure(args.folder, args.timeout, models=not args.no_models)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    total = collections.Counter()
    print(f"{'pack':<32} {'found':>6} {'loaded':>7} {'ran':>5} {'no smoke':>9}")
    for row in sorted(rows, key=lambda r: r["pack"]):
        print(f"{row['pack']:<32} {row['found']:>6} {row['loaded']:>7} {row['ran']:>5} "
              f"{row['skipped']:>9}")
        for text, count in row["reasons"].items():
            print(f"    {count:>3} x {text}")
        total.update({k: row[k] for k in ("found", "loaded", "ran", "skipped")})
    print(f"{'total':<32} {total['found']:>6} {total['loaded']:>7} {total['ran']:>5} "
          f"{total['skipped']:>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
