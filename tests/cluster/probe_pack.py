"""Nodes for the cluster tests, copied into the server's custom_nodes/ (so Ray ships them to
the workers with runtime_env, as it ships a user's packs)."""
import os

from nodeflow import node


@node(category="testing", output=True, always_run=True)
def WhereAmI(tag: int = 0, *, ctx) -> None:
    """Where this pack's file lies on the machine that runs it, and the process."""
    ctx.report(text=[os.path.realpath(__file__), str(os.getpid())])


@node(category="testing", output=True, always_run=True)
def Tally(path: str = "", tag: int = 0, *, ctx) -> None:
    """Append this run's prompt id to ``path``: how many times each prompt really ran."""
    with open(path, "a") as handle:
        handle.write(ctx.run_id + "\n")
    ctx.report(text=[str(tag)])
