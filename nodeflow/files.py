"""Reading a workflow from a file the user names: a .json workflow or a PNG that carries one."""
from __future__ import annotations

from pathlib import Path

from .errors import Problem, WorkflowError
from .png import read_text_chunks
from .workflow import Workflow, parse_workflow


def read_workflow_file(path: str | Path) -> Workflow:
    """Raises :class:`WorkflowError` for a missing, unreadable or invalid file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise WorkflowError([Problem(None, None, f"{path}: no such file")]) from None
    except OSError as exc:
        raise WorkflowError([Problem(None, None, f"{path}: cannot read ({exc.strerror})")]) \
            from None
    if data.startswith(b"\x89PNG"):
        return parse_workflow(_workflow_text_from_png(path, data))
    return parse_workflow(data)


def _workflow_text_from_png(path: Path, data: bytes) -> str:
    try:
        chunks = read_text_chunks(data)
    except ValueError as exc:
        raise WorkflowError([Problem(None, None, f"{path}: {exc}")]) from None
    if "nodeflow" in chunks:
        return chunks["nodeflow"]
    if "workflow" in chunks or "prompt" in chunks:
        raise WorkflowError([Problem(None, None, f"{path} carries a ComfyUI workflow, not a "
                                     "nodeflow one; it must be converted first")])
    raise WorkflowError([Problem(None, None, f"{path}: this PNG carries no workflow")])
