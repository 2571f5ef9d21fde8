"""Where a user's files live: the base folder and its subfolders."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_BUDGET_BYTES = 4 * 1024**3


def default_base_dir() -> Path:
    """``NODEFLOW_HOME`` if set, else ``~/nodeflow``."""
    env = os.environ.get("NODEFLOW_HOME")
    return Path(env).expanduser() if env else Path.home() / "nodeflow"


@dataclass(frozen=True)
class Settings:
    """A run's environment. Immutable, passed explicitly; there is no global config."""

    base_dir: Path = field(default_factory=default_base_dir)
    output_override: Path | None = None
    allow_pickle: bool = False
    cache_budget_bytes: int = DEFAULT_BUDGET_BYTES
    model_budget_bytes: int | None = None  # None: 60% of the machine's memory
    # fp32, bf16, fp16 or auto (the fastest the hardware runs natively: diffusion/runtime.py).
    # fp32 in Python, so scripts and tests reproduce ComfyUI's fp32 pixels; the command line
    # (run, serve) defaults to auto.
    precision: str = "fp32"
    compile: bool = False
    """Run the UNet through torch.compile, once per loaded model (diffusion/compiled.py)."""
    vram_budget: str | None = None
    """``--vram-budget``: models load into RAM and move onto the GPU while they fit this many
    bytes (``6GB``, ``6000MB``) or this fraction of its memory (``0.5``); None: all models
    load straight onto the device (nodeflow/diffusion/placement.py)."""
    max_pixels: int = 4096 * 4096
    """The most pixels one node may make: width x height x batch_size (16.8 Mpx: SDXL at
    1024x1024 with a batch of 16). The server refuses larger prompts before they run."""
    max_text_chars: int = 20_000
    """The longest text input a queued prompt may carry (a prompt is a few hundred)."""

    @classmethod
    def from_args(cls, base_dir: str | os.PathLike | None = None, **kwargs) -> "Settings":
        base = Path(base_dir).expanduser() if base_dir else default_base_dir()
        return cls(base_dir=base.resolve(), **kwargs)

    def with_output_dir(self, path: str | os.PathLike | None) -> "Settings":
        return replace(self, output_override=Path(path).resolve() if path else None)

    @property
    def models_dir(self) -> Path:
        return self.base_dir / "models"

    @property
    def custom_nodes_dir(self) -> Path:
        return self.base_dir / "custom_nodes"

    @property
    def components_dir(self) -> Path:
        return self.base_dir / "components"

    @property
    def input_dir(self) -> Path:
        return self.base_dir / "input"

    @property
    def output_dir(self) -> Path:
        return self.output_override or self.base_dir / "output"

    @property
    def temp_dir(self) -> Path:
        return self.base_dir / "temp"

    @property
    def workflows_dir(self) -> Path:
        return self.base_dir / "workflows"

    @property
    def queue_db(self) -> Path:
        return self.base_dir / "queue.sqlite3"

    def model_dir(self, kind: str) -> Path:
        """``models/checkpoints``, ``models/vae``, ``models/loras``, ..."""
        return self.models_dir / kind
