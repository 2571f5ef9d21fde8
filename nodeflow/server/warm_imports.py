"""The model stack imported in the background once the server is up.

Importing torch, diffusers and transformers takes about 5 s on a 2-core machine; the server is
ready long before (it never needs them to answer), and without this the user's first run would
wait for them. A run that starts before the imports end waits on Python's import lock, no
longer than it would have. The thread is not a daemon: a server stopped early waits for the
import to finish rather than tearing down an interpreter in the middle of loading torch.
"""
from __future__ import annotations

import logging
import threading

log = logging.getLogger("nodeflow.server")


def warm_model_imports() -> threading.Thread:
    def warm() -> None:
        try:
            from ..diffusion import checkpoint_build, sampling  # noqa: F401
        except Exception as exc:  # noqa: BLE001 - a run will report the same problem
            log.debug("background import of the model stack failed: %s", exc)

    thread = threading.Thread(target=warm, name="nodeflow-warm-imports")
    thread.start()
    return thread
