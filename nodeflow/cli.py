"""The `nodeflow` command. Exit 0 ok, 1 bad workflow or failed run, 2 bad usage, 130 stopped.

A user's mistake prints one line per problem and no traceback; results go to stdout,
progress and messages to stderr.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path
from typing import Any, Sequence

from .errors import Problem, WorkflowError

EXIT_OK, EXIT_WORKFLOW, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad command-line usage (exit 2)."""


def main(argv: Sequence[str] | None = None) -> int:
    # OpenMP's threads spin briefly between parallel regions (libgomp's default, which ComfyUI
    # keeps too). Waiting passively instead made an SD 1.5 UNet call 1.2-2x slower on a quiet
    # 2-core machine, and 2x faster while another process computed on the same cores: users who
    # share their cores set OMP_WAIT_POLICY=PASSIVE themselves (README, "Benchmarks").
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.handler(args)
    except UsageError as exc:
        print(f"nodeflow {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except WorkflowError as exc:
        _print_problems(exc.problems)
        return EXIT_WORKFLOW
    except BrokenPipeError:  # stdout closed early (`nodeflow nodes --json | head`)
        sys.stderr.close()
        return EXIT_OK


def entry() -> int:
    """The `nodeflow` command's entry point: ``main`` with the process's arguments, then the
    objects alive at its end are left out of the collection Python runs as the process exits
    (gc.freeze). With torch, diffusers and transformers imported that collection walked
    millions of objects for 1.3 s after the work was done (`nodeflow run` of the main job:
    7.0 s -> 5.9 s; a stopped server: 1.5 s -> 0.2 s). Files and the queue are closed by then
    and atexit handlers still run; what is skipped is the finalizers of objects caught in
    reference cycles, which Python never promised at exit. Not in ``main``: tests call it in
    their own process."""
    import gc

    code = main()
    gc.freeze()
    return code


def _vram_budget(text: str) -> str:
    from .diffusion.placement import check_budget_text

    try:
        return check_budget_text(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--vram-budget ")) from None


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--base-dir", metavar="DIR",
                        help="the user folder (default: $NODEFLOW_HOME, else ~/nodeflow)")
    models = argparse.ArgumentParser(add_help=False)
    models.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
                        help="model precision (default auto: the fastest this machine runs "
                             "natively: bf16 on CPUs with bf16 matrix instructions and on GPUs "
                             "that have it, fp16 on older GPUs, else fp32; each run says which. "
                             "fp32 reproduces ComfyUI's CPU pixels)")
    models.add_argument("--compile", action="store_true",
                        help="compile the UNet with torch.compile the first time each model runs "
                             "at a latent size (minutes on a CPU; later runs reuse it; see the "
                             "README's Benchmarks for when it pays)")
    models.add_argument("--vram-budget", type=_vram_budget, metavar="SIZE",
                        help="keep models in RAM and move onto the GPU only those a node uses, "
                             "within SIZE (6GB, 6000MB, or 0.5 of the GPU's memory), moving the "
                             "least recently used back to RAM (default: no budget; every model "
                             "loads onto the GPU)")
    models.add_argument("--allow-pickle", action="store_true",
                        help="allow loading pickle model files (.ckpt, .pt, .bin); only for "
                             "files you trust (loaded with weights_only=True)")
    parser = argparse.ArgumentParser(prog="nodeflow", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", parents=[common, models], help="run a workflow (.json or .png)")
    run.add_argument("file", help="workflow .json, or a PNG saved by nodeflow")
    run.add_argument("--set", dest="overrides", action="append", default=[],
                     metavar="NODE.INPUT=VALUE", help="change one input value (repeatable)")
    run.add_argument("--output-dir", metavar="DIR", help="where saved images go")
    run.set_defaults(handler=cmd_run)

    validate = sub.add_parser("validate", parents=[common], help="check a workflow")
    validate.add_argument("file")
    validate.set_defaults(handler=cmd_validate)

    serve = sub.add_parser("serve", parents=[common, models], help="the editor and the API")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind (default 127.0.0.1; others need a token)")
    serve.add_argument("--port", type=int, default=8188)
    serve.add_argument("--token", help="access token required when binding beyond loopback "
                                       "(generated and printed if not given)")
    serve.add_argument("--dev", action="store_true",
                       help="reload node packs (custom_nodes, editable pip installs; Python "
                            "and editor files) when they change")
    serve.add_argument("--max-pixels", type=int, metavar="N",
                       help="refuse prompts where a node makes more than N pixels "
                            "(width x height x batch; default 4096x4096)")
    serve.add_argument("--max-text-chars", type=int, metavar="N",
                       help="refuse prompts with a text input longer than N characters "
                            "(default 20000)")
    serve.add_argument("--frontend", choices=["nodeflow", "comfyui"], default="nodeflow",
                       help="the editor at /: nodeflow's (default) or ComfyUI's own frontend "
                            "(pip install 'nodeflow[comfyui-frontend]'); nodeflow's editor "
                            "stays at /nodeflow/")
    serve.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                       help="run prompts on worker actors of a Ray cluster (pip install "
                            "'nodeflow[ray]'): without ADDRESS a local cluster with one "
                            "worker per GPU; with one, the cluster `ray start` made there")
    serve.add_argument("--ray-workers", type=int, metavar="N",
                       help="with --ray: N CPU workers (besides one per GPU)")
    serve.set_defaults(handler=cmd_serve)

    recover = sub.add_parser("db-recover", parents=[common],
                             help="rebuild a damaged queue database from what can be read "
                                  "(the damaged file is moved aside); stop the server first")
    recover.set_defaults(handler=cmd_db_recover)

    new_pack = sub.add_parser("new-pack", help="scaffold a pip-installable node pack")
    new_pack.add_argument("name", help="package name, e.g. nodeflow-image-filters")
    new_pack.add_argument("--dir", default=".", help="where to create it (default: here)")
    new_pack.set_defaults(handler=cmd_new_pack)

    imp = sub.add_parser("import", parents=[common],
                         help="convert a ComfyUI workflow (API or editor format, or a PNG)")
    imp.add_argument("file", help="ComfyUI .json (API or editor format) or a PNG")
    imp.add_argument("-o", "--output", required=True, metavar="OUT.json",
                     help="where to write the nodeflow workflow")
    imp.set_defaults(handler=cmd_import)

    export = sub.add_parser("export", parents=[common],
                            help="write a workflow in ComfyUI's format")
    export.add_argument("file", help="nodeflow workflow .json, or a PNG saved by nodeflow")
    export.add_argument("--comfy", action="store_true", required=True,
                        help="ComfyUI's API format (the only target so far)")
    export.add_argument("--ui", action="store_true",
                        help="ComfyUI's editor format instead of the API format")
    export.add_argument("-o", "--output", required=True, metavar="OUT.json")
    export.set_defaults(handler=cmd_export)

    train = sub.add_parser("train-tiny", help="train the built-in nodeflow-tiny model from "
                                             "scratch (about 20 minutes on 2 CPU cores)")
    train.add_argument("--out", required=True, metavar="DIR", help="where to write the model")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--scale", type=float, default=1.0,
                       help="fraction of the training steps (e.g. 0.01 for a smoke test)")
    train.set_defaults(handler=cmd_train_tiny)

    lora = sub.add_parser("train-tiny-lora", help="train the example LoRA for nodeflow-tiny (bold "
                                                  "digits; about 2 minutes on 2 CPU cores)")
    lora.add_argument("--out", required=True, metavar="FILE", help="the .safetensors file to write")
    lora.add_argument("--model", metavar="DIR", help="the base model, a diffusers folder "
                                                     "(default: the built-in nodeflow-tiny)")
    lora.add_argument("--seed", type=int, default=0)
    lora.add_argument("--steps", type=int, help="training steps (default: the full run; e.g. 5 "
                                                "for a smoke test)")
    lora.set_defaults(handler=cmd_train_tiny_lora)

    nodes = sub.add_parser("nodes", parents=[common],
                           help="list node types and packs that failed to load")
    nodes.add_argument("--json", action="store_true", help="machine-readable output")
    nodes.set_defaults(handler=cmd_nodes)
    return parser


def _settings(args: argparse.Namespace):
    from .settings import Settings

    settings = Settings.from_args(args.base_dir, precision=getattr(args, "precision", "auto"),
                                  allow_pickle=getattr(args, "allow_pickle", False),
                                  compile=getattr(args, "compile", False),
                                  vram_budget=getattr(args, "vram_budget", None))
    if settings.compile:
        from .diffusion.compiled import compile_problem
        from .diffusion.runtime import pick_device

        problem = compile_problem(pick_device())
        if problem:
            raise UsageError(f"--compile: {problem}")
    if getattr(args, "output_dir", None):
        settings = settings.with_output_dir(args.output_dir)
    return settings


def _load(args: argparse.Namespace):
    """(settings, registry, upgraded workflow); migration notes go to stderr."""
    from .files import read_workflow_file
    from .migrations import upgrade_workflow
    from .plugins import load_registry

    settings = _settings(args)
    registry = load_registry(settings)
    _warn_failures(registry)
    workflow, notes = upgrade_workflow(read_workflow_file(args.file, registry), registry)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return settings, registry, workflow


def cmd_validate(args: argparse.Namespace) -> int:
    from .engine.validate import validate

    settings, registry, workflow = _load(args)
    problems = validate(workflow, registry, settings)
    if problems:
        _print_problems(problems)
        return EXIT_WORKFLOW
    print("ok")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from .engine.executor import Executor
    from .engine.progress import ProgressPrinter

    settings, registry, workflow = _load(args)
    workflow = apply_overrides(workflow, registry, args.overrides)
    executor = Executor(registry, settings)
    interrupt = threading.Event()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["result"] = executor.run(workflow, listener=ProgressPrinter(),
                                             interrupt=interrupt)
        except BaseException as exc:  # handed to the main thread, which reports it
            outcome["exc"] = exc

    worker = threading.Thread(target=work, name="nodeflow-run", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.1)
    except KeyboardInterrupt:
        interrupt.set()
        print("\nstopping after the current step...", file=sys.stderr)
        worker.join()
    if "exc" in outcome:
        raise outcome["exc"]
    result = outcome["result"]
    _print_outputs(result, settings)
    if result.status == "interrupted":
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if result.status == "error":
        _print_run_error(result.error)
        return EXIT_WORKFLOW
    return EXIT_OK


def apply_overrides(workflow, registry, overrides: Sequence[str]):
    """``NODE.INPUT=VALUE`` edits. A string input takes VALUE as it is; others parse it as
    JSON (so ``7`` is a number); either way the value is then validated like any literal."""
    if not overrides:
        return workflow
    nodes = dict(workflow.nodes)
    for item in overrides:
        node_id, input_name, raw = _split_override(item)
        if node_id not in nodes:
            raise UsageError(f"--set {item!r}: the workflow has no node '{node_id}'")
        spec = nodes[node_id]
        node_def = registry.get(spec.type)
        input_spec = node_def.inputs.get(input_name) if node_def else None
        type_name = input_spec.socket.type_name if input_spec is not None else None
        subgraph = (workflow.subgraphs or {}).get(spec.type)
        if subgraph is not None and input_name in subgraph.inputs:
            type_name = subgraph.inputs[input_name].type
        value: Any = raw
        if type_name != "STRING":
            try:
                value = json.loads(raw)
            except ValueError:
                value = raw
        nodes[node_id] = spec.model_copy(update={"inputs": {**spec.inputs, input_name: value}})
    return workflow.model_copy(update={"nodes": nodes})


def _split_override(item: str) -> tuple[str, str, str]:
    """``NODE.INPUT=VALUE`` -> (node, input, value). A node id with '.' or '=' in it is written
    as a JSON string: ``"my.node".seed=7``; the input name is an identifier."""
    if item.startswith('"'):
        try:
            node_id, end = json.JSONDecoder().raw_decode(item)
        except ValueError:
            raise UsageError(f"--set {item!r}: the quoted node id is not a JSON string") from None
        rest = item[end:]
        if not rest.startswith("."):
            raise UsageError(f"--set {item!r}: expected \"NODE\".INPUT=VALUE")
        input_name, sep, raw = rest[1:].partition("=")
    else:
        target, sep, raw = item.partition("=")
        node_id, _, input_name = target.rpartition(".")
    if not sep or not node_id or not input_name:
        raise UsageError(f"--set {item!r}: expected NODE.INPUT=VALUE")
    return node_id, input_name, raw


def cmd_serve(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from .server.main import serve

    limits = {name: value for name, value in (("max_pixels", args.max_pixels),
                                              ("max_text_chars", args.max_text_chars))
              if value is not None}
    if any(value < 1 for value in limits.values()):
        raise UsageError("--max-pixels and --max-text-chars must be at least 1")
    cluster = None
    if args.ray is not None:
        if args.dev:
            raise UsageError("--dev reloads packs in this process; it cannot be used with --ray")
        if args.ray_workers is not None and args.ray_workers < 0:
            raise UsageError("--ray-workers must be 0 or more")
        from .cluster.launch import ClusterOptions

        cluster = ClusterOptions(address=args.ray or None, cpu_workers=args.ray_workers)
    elif args.ray_workers is not None:
        raise UsageError("--ray-workers needs --ray")
    return serve(replace(_settings(args), **limits), host=args.host, port=args.port,
                 token=args.token, dev=args.dev, frontend=args.frontend, cluster=cluster)


def cmd_db_recover(args: argparse.Namespace) -> int:
    from .server.db_recover import recover

    path = _settings(args).queue_db
    print(recover(path).summary(path))
    return EXIT_OK


def cmd_train_tiny(args: argparse.Namespace) -> int:
    from .tiny.train import train

    if not 0 < args.scale <= 1:
        raise UsageError("--scale must be in (0, 1]")
    print(train(Path(args.out), seed=args.seed, scale=args.scale,
                log=lambda line: print(line, file=sys.stderr, flush=True)))
    return EXIT_OK


def cmd_train_tiny_lora(args: argparse.Namespace) -> int:
    from .tiny.lora import STEPS, train_lora
    from .tiny.quality import shipped_model

    steps = STEPS if args.steps is None else args.steps
    if steps < 1:
        raise UsageError("--steps must be at least 1")
    model = Path(args.model) if args.model else shipped_model()
    if not (model / "model_index.json").is_file():
        raise UsageError(f"{model} is not a diffusers model folder (no model_index.json)")
    print(train_lora(model, Path(args.out), seed=args.seed, steps=steps,
                     log=lambda line: print(line, file=sys.stderr, flush=True)))
    return EXIT_OK


def cmd_new_pack(args: argparse.Namespace) -> int:
    from .scaffold import scaffold

    try:
        root = scaffold(args.name, Path(args.dir))
    except (ValueError, FileExistsError) as exc:
        raise UsageError(str(exc)) from None
    print(root)
    print(f"next: cd {root} && pip install -e '.[test]' && nodeflow nodes && pytest -q",
          file=sys.stderr)
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    """Converted nodes are written even when others could not be (they are listed); exit 1
    then. Models the workflow names that are not installed are warnings."""
    from .comfy.convert import NODEFLOW, import_workflow
    from .files import read_file_bytes
    from .plugins import load_registry
    from .workflow import dump_workflow

    settings = _settings(args)
    registry = load_registry(settings)
    _warn_failures(registry)
    imported = import_workflow(read_file_bytes(args.file), registry, settings)
    if imported.format == NODEFLOW:
        raise WorkflowError([Problem(None, None, f"{args.file} is a nodeflow workflow already; "
                                                 "nothing to import")])
    workflow = imported.workflow
    if workflow.name is None:
        workflow = workflow.model_copy(update={"name": Path(args.file).stem})
    _write_text(args.output, dump_workflow(workflow))
    for note in imported.notes:
        print(f"note: {note}", file=sys.stderr)
    for problem in imported.warnings:
        print(f"warning: {problem}", file=sys.stderr)
    print(args.output)
    if imported.problems:
        _print_problems(imported.problems)
        print(f"{len(imported.problems)} problem(s): what is listed above was left out of "
              f"{args.output}", file=sys.stderr)
        return EXIT_WORKFLOW
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from .comfy.export import export_api, export_ui

    _, registry, workflow = _load(args)
    exported, problems = (export_ui if args.ui else export_api)(workflow, registry)
    if problems:
        _print_problems(problems)
        print("not written: ComfyUI has no counterpart for what is listed above",
              file=sys.stderr)
        return EXIT_WORKFLOW
    _write_text(args.output, json.dumps(exported, indent=2, ensure_ascii=False) + "\n")
    print(args.output)
    return EXIT_OK


def _write_text(path: str, text: str) -> None:
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None


def cmd_nodes(args: argparse.Namespace) -> int:
    from .plugins import load_registry

    settings = _settings(args)
    registry = load_registry(settings)
    if args.json:
        json.dump({"nodes": registry.schemas(settings),
                   "packs": [{"name": p.name, "version": p.version, "kind": p.kind,
                              "origin": p.origin, "nodes": p.node_types,
                              **({"import_output": p.import_output} if p.import_output else {}),
                              **({"comfyui": p.comfy} if p.comfy is not None else {})}
                             for p in registry.packs.values()],
                   "failures": registry.failures_json()}, sys.stdout, indent=2)
        print()
        return EXIT_OK
    by_category: dict[str, list] = {}
    for node_def in registry.nodes.values():
        by_category.setdefault(node_def.category, []).append(node_def)
    for category in sorted(by_category):
        print(f"{category}:")
        for nd in sorted(by_category[category], key=lambda n: n.type_name):
            print(f"  {nd.type_name:<28} {nd.version:<8} {nd.pack}")
    _print_comfy_packs(registry)
    if registry.failures:
        print("\npacks that failed to load:")
        for failure in registry.failures:
            print(f"  {failure}")
    return EXIT_OK


def _print_comfy_packs(registry) -> None:
    """ComfyUI packs: nodes loaded of classes found, why the others did not load, missing
    requirements and the ComfyUI internals they reach for."""
    for pack in registry.packs.values():
        if pack.comfy is None and pack.import_output.strip():
            print(f"\n{pack.name} printed at import: "
                  f"{pack.import_output.strip().splitlines()[0]}")
    comfy = [p for p in registry.packs.values() if p.comfy is not None]
    if not comfy:
        return
    print("\nComfyUI packs:")
    for pack in comfy:
        info = pack.comfy
        print(f"  {pack.name}: {len(pack.node_types)} of {info['classes']} nodes loaded "
              f"({pack.origin})")
        for type_name, reason in info["failed"].items():
            print(f"    not loaded: {type_name}: {reason}")
        if info["internals"]:
            print(f"    needs ComfyUI internals: {', '.join(info['internals'])}")
        if info["missing_requirements"]:
            print(f"    missing requirements (not installed automatically): "
                  f"{', '.join(info['missing_requirements'])}")
        if pack.import_output.strip():
            print(f"    printed at import: {pack.import_output.strip().splitlines()[0]}")


def _warn_failures(registry) -> None:
    for failure in registry.failures:
        print(f"warning: node pack {failure}", file=sys.stderr)


def _print_problems(problems: list[Problem]) -> None:
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)


def _print_outputs(result, settings) -> None:
    """Saved files, one path per line on stdout; other reported text as 'node: text'."""
    for node_id, ui in result.outputs.items():
        for item in ui.get("images", []) + ui.get("files", []):
            if isinstance(item, dict) and item.get("type", "output") == "output":
                print(Path(settings.output_dir, item.get("subfolder", ""), item["filename"]))
        for text in ui.get("text", []):
            print(f"{node_id}: {text}")


def _print_run_error(error: dict) -> None:
    where = f"node '{error['node']}' ({error['node_type']})"
    if error.get("input"):
        where += f", input '{error['input']}'"
    if error.get("traceback"):
        print(error["traceback"].rstrip(), file=sys.stderr)
        print(f"error: {where} failed with a bug in the node ({error['type']}): "
              f"{error['message']}", file=sys.stderr)
    else:
        print(f"error: {where}: {error['message']}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
