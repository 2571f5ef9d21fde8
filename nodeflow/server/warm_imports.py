"""The model stack imported in the background once the server is up.

Importing torch, diffusers and transformers takes about 5 s on a 2-core machine; the server is
ready long before (it never needs them to answer), and without this the user's first run would
wait for them. The modules a first txt2img run imports on first use, and the CLIP tokenizer it
parses, come next (about 0.5 s more that a first run would otherwise spend). A run that starts
before the imports end waits on Python's import lock, no longer than it would have. The thread
is not a daemon, so the interpreter is never torn down under an import of torch: a server
stopped while it runs ends with os._exit once its own cleanup is done (`exit_if_importing`),
where it used to wait for the imports (5-6 s of every early Ctrl-C on 2 cores).
"""
from __future__ import annotations

import importlib
import logging
import os
import sys
import threading

log = logging.getLogger("nodeflow.server")

FIRST_RUN_MODULES = (
    "nodeflow.diffusion.checkpoint_build", "nodeflow.diffusion.sampling",  # torch, diffusers
    "nodeflow.diffusion.checkpoints", "nodeflow.diffusion.refs", "nodeflow.diffusion.text_encoding",
    "nodeflow.diffusion.embeddings", "nodeflow.diffusion.cpu_blocks", "nodeflow.diffusion.vae_ops",
    "nodeflow.diffusion.images", "nodeflow.comfy.export", "nodeflow.comfy.export_subgraphs",
    "nodeflow.png", "nodeflow.new_files",
    "ftfy", "PIL.PngImagePlugin",
)
"""What the built-in loader, text encoder, sampler, VAE and save nodes import when they first
run (they import lazily, so that the server starts without torch)."""


def warm_first_run() -> None:
    """Import ``FIRST_RUN_MODULES`` and parse the default CLIP tokenizer (cached and shared)."""
    for name in FIRST_RUN_MODULES:
        importlib.import_module(name)
    from ..diffusion.tokenizer import load_clip_tokenizer

    load_clip_tokenizer("eos")


def warm_model_imports() -> threading.Thread:
    def warm() -> None:
        try:
            warm_first_run()
        except Exception as exc:  # noqa: BLE001 - a run will report the same problem
            log.debug("background import of the model stack failed: %s", exc)

    global _running
    thread = _running = threading.Thread(target=warm, name="nodeflow-warm-imports")
    thread.start()
    return thread


_running: threading.Thread | None = None


def exit_if_importing(code: int) -> None:
    """End the process now with ``code`` if the background imports are still running: for a
    server whose queue and sockets are closed. os._exit skips the interpreter's teardown, so
    nothing is finalised under the import; the logs and output are flushed first."""
    if _running is None or not _running.is_alive():
        return
    log.info("stopped while the model stack was still being imported in the background")
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
