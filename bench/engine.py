"""Engine overhead on a 1,000-node chain of trivial nodes: validate, run, cached re-run.

    python bench/engine.py [--nodes 1000] [--repeat 5]

Prints the best of ``--repeat`` timings and each as a ratio to a baseline measured in the same
run: calling the same 1,000 functions directly in a loop. Goals on a 2-core CPU: run <= 0.2 s,
cached re-run <= 0.05 s.
"""
from __future__ import annotations

import argparse
import time

from nodeflow import node
from nodeflow.engine.executor import Executor
from nodeflow.engine.graph import build_graph
from nodeflow.registry import PackInfo, Registry
from nodeflow.settings import Settings
from nodeflow.engine.validate import validate
from nodeflow.workflow import parse_workflow


@node(category="bench")
def Inc(x: int = 0, step: int = 1) -> int:
    return x + step


@node(category="bench", output=True)
def Keep(x: int) -> None:
    return None


def chain(n: int, step: int = 1) -> dict:
    nodes = {"n0": {"type": "Inc", "inputs": {"step": step}}}
    for i in range(1, n - 1):
        nodes[f"n{i}"] = {"type": "Inc", "inputs": {"x": {"node": f"n{i - 1}", "output": "int"}}}
    nodes["out"] = {"type": "Keep", "inputs": {"x": {"node": f"n{n - 2}", "output": "int"}}}
    return {"nodeflow": 1, "nodes": nodes}


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    registry = Registry()
    registry.add_nodes([Inc, Keep], PackInfo("bench", "0", "bench", "custom"))
    settings = Settings()
    data = chain(args.nodes)

    def direct() -> None:
        x = 0
        for _ in range(args.nodes - 1):
            x = Inc.fn(x, 1)
        Keep.fn(x)

    counter = iter(range(10**9))

    def fresh_run() -> None:  # a new first-node literal each time: nothing is cached
        Executor(registry, settings).run(parse_workflow(chain(args.nodes, next(counter) + 2)))

    workflow = parse_workflow(data)
    executor = Executor(registry, settings)
    executor.run(workflow)
    timings = {
        "direct calls (baseline)": best(direct, args.repeat),
        "parse": best(lambda: parse_workflow(data), args.repeat),
        "validate": best(lambda: validate(workflow, registry, settings, build_graph(workflow)),
                         args.repeat),
        "run (parse+validate+execute)": best(fresh_run, args.repeat),
        "cached re-run (parse+validate)": best(lambda: executor.run(parse_workflow(data)),
                                               args.repeat),
    }
    base = timings["direct calls (baseline)"]
    print(f"{args.nodes}-node chain, best of {args.repeat}")
    for name, seconds in timings.items():
        print(f"  {name:<32} {seconds * 1000:8.2f} ms   x{seconds / base:8.1f} baseline")
    run, cached = timings["run (parse+validate+execute)"], timings["cached re-run (parse+validate)"]
    print(f"goals: run <= 200 ms ({'met' if run <= 0.2 else 'missed'}), "
          f"cached re-run <= 50 ms ({'met' if cached <= 0.05 else 'missed'})")


if __name__ == "__main__":
    main()
