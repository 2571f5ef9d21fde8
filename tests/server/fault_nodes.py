"""Nodes that misbehave on purpose. The reliability tests copy this file into a real server's
custom_nodes/ folder, so the server loads it like any user's pack."""
import os
import time

from nodeflow import Field, node

ESCAPES = ["SystemExit", "KeyboardInterrupt", "GeneratorExit", "ValueError"]


@node(category="testing", output=True, always_run=True)
def Raise(kind: str = Field("ValueError", choices=ESCAPES), *, ctx) -> None:
    """What a library might raise: sys.exit, a stray Ctrl-C, a closed generator."""
    raise {"SystemExit": SystemExit(3), "KeyboardInterrupt": KeyboardInterrupt(),
           "GeneratorExit": GeneratorExit(), "ValueError": ValueError("boom")}[kind]


@node(category="testing", output=True, always_run=True)
def Wait(seconds: float = Field(0.0, ge=0.0), tag: int = 0, *, ctx) -> None:
    """Sleep in small steps that honour an interrupt (a slow sampler)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ctx.progress(0, 1)
        time.sleep(0.01)
    ctx.report(text=[f"waited {tag}"])


@node(category="testing", output=True, always_run=True)
def Flood(frames: int = Field(10, ge=1), size: int = Field(256, ge=8, le=512),
          tag: int = 0, *, ctx) -> None:
    """Noise previews: large binary websocket frames that JPEG cannot shrink."""
    from PIL import Image

    for i in range(frames):
        image = Image.frombytes("RGB", (size, size), os.urandom(size * size * 3))
        ctx.progress(i + 1, frames, preview=image)
    ctx.report(text=[f"flooded {tag}"])


@node(category="testing", output=True, always_run=True)
def WriteFile(name: str = "out.bin", kib: int = Field(1, ge=0), *, ctx) -> None:
    """Write ``kib`` KiB to output/ (fills a small disk)."""
    ctx.output_dir.mkdir(parents=True, exist_ok=True)
    (ctx.output_dir / name).write_bytes(b"x" * (kib * 1024))
    ctx.report(text=[name])


@node(category="testing", output=True, always_run=True)
def ImportTorch(*, ctx) -> None:
    """The first run that needs torch imports it, as the SD nodes do."""
    import torch

    ctx.report(text=[torch.__version__])
