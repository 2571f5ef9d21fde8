"""Reading a workflow from a file the user names: a .json workflow or a PNG that carries one.

A PNG's ``nodeflow`` chunk is read first; without it, ComfyUI's ``workflow`` (editor format),
else its ``prompt`` (API format) is converted, so `nodeflow run` takes images saved by either.
ComfyUI's JSON files are converted the same way.
"""
from __future__ import annotations

from pathlib import Path

from .errors import Problem, WorkflowError
from .registry import Registry
from .workflow import Workflow, parse_workflow


def read_file_bytes(path: str | Path) -> bytes:
    """Raises :class:`WorkflowError` for a missing or unreadable file."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise WorkflowError([Problem(None, None, f"{path}: no such file")]) from None
    except IsADirectoryError:
        raise WorkflowError([Problem(None, None, f"{path} is a folder, not a file")]) from None
    except OSError as exc:
        raise WorkflowError([Problem(None, None, f"{path}: cannot read ({exc.strerror})")]) \
            from None


def read_workflow_file(path: str | Path, registry: Registry | None = None) -> Workflow:
    """The workflow in a .json file or a PNG. Raises :class:`WorkflowError` for a missing,
    unreadable or invalid file, and for a ComfyUI workflow that does not convert completely
    (each node that does not is named)."""
    from .comfy.api_format import is_api_prompt
    from .comfy.convert import import_workflow
    from .comfy.ui_format import is_ui_workflow
    from .png import SIGNATURE
    from .workflow import _json

    path = Path(path)
    data = read_file_bytes(path)
    source: bytes | dict = data
    if not data.startswith(SIGNATURE):
        source = _json(data)
        if not (is_ui_workflow(source) or is_api_prompt(source)):
            return parse_workflow(source)
    try:
        imported = import_workflow(source, registry, stamp=False)
    except WorkflowError as exc:
        raise WorkflowError([Problem(p.node, p.input, f"{path}: {p.message}", p.kind)
                             if p.node is None else p for p in exc.problems]) from None
    if imported.problems:
        raise WorkflowError(imported.problems)
    return imported.workflow
