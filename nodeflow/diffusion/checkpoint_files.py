"""Reading tensors from model files, with errors that name the file instead of tracebacks.

safetensors is the default because it cannot run code; pickle files (.ckpt/.pt/.pth/.bin) can,
so they are refused unless the caller opts in, and even then torch.load runs with
weights_only=True, which only rebuilds tensors and plain containers.
"""

from __future__ import annotations

import json
import os
import pickle
from collections import ChainMap
from collections.abc import Iterator, Mapping
from pathlib import Path

import torch

from .checkpoint_errors import CheckpointError
from .checkpoint_paths import PICKLE_SUFFIXES, SAFE_SUFFIXES


def pickle_refused(path: Path) -> CheckpointError:
    return CheckpointError(
        f"{path}: {path.suffix} files are Python pickles, which can run arbitrary code when loaded, "
        "so they are refused by default. Convert it to .safetensors, or opt in with "
        "--allow-pickle on the command line (nodeflow run/serve --allow-pickle; it is then "
        "loaded with torch.load(weights_only=True)).")


_SAFETENSORS_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool, "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2,
}


# Bytes per chunk when a tensor is converted while it is read: small enough to stay in the CPU's
# caches between the read and the conversion, large enough that the system calls do not count.
_STAGING_BYTES = 4 << 20


class SafetensorsFile(Mapping[str, torch.Tensor]):
    """The tensors of a .safetensors file, each read from disk when it is asked for.

    A model is built one tensor at a time, so the process holds the model plus one tensor, not
    the model plus the whole file mapped (the pages of a map count as the process's memory once
    touched: 4 GB more at the peak for an fp32 SD 1.5 file). Every tensor read is a new tensor
    the caller owns, never a view into the file. The header is checked on opening, so a
    truncated file is an error before anything is built.
    """

    def __init__(self, path: Path):
        self.path = path
        size = path.stat().st_size
        try:
            with open(path, "rb") as f:
                length = int.from_bytes(f.read(8), "little")
                if not 2 <= length <= size - 8:
                    raise ValueError(f"header length {length} does not fit a file of {size} bytes")
                header = json.loads(f.read(length))
            self._base = 8 + length
            self._staging: torch.Tensor | None = None
            self._float32: torch.Tensor | None = None
            self._entries = {}
            for key, entry in header.items():
                if key == "__metadata__":
                    continue
                start, end = entry["data_offsets"]
                dtype, shape = _SAFETENSORS_DTYPES[entry["dtype"]], torch.Size(entry["shape"])
                if not 0 <= start <= end <= size - self._base or end - start != shape.numel() * dtype.itemsize:
                    raise ValueError(f"tensor {key!r} lies outside the file or has the wrong size")
                self._entries[key] = (start, dtype, shape)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CheckpointError(
                f"{path}: not a readable safetensors file; it may be truncated (an interrupted "
                f"download) or not a model at all ({exc})") from None

    def __getitem__(self, key: str) -> torch.Tensor:
        return self.read(key)

    def stored_dtype(self, key: str) -> torch.dtype:
        return self._entries[key][1]

    def read(self, key: str, dtype: torch.dtype | None = None) -> torch.Tensor:
        """The tensor, as a floating `dtype` if given (integer tensors keep theirs).

        The bytes go from the file straight into the new tensor (pread, no memory map): when
        the dtype is the stored one nothing is copied twice; otherwise they pass through a
        small staging buffer and are converted chunk by chunk, so a 2 GB fp16 file becomes a
        4 GB fp32 model without a full fp16 copy in between. The conversion is torch's own
        (`copy_`), bit for bit what `tensor.to(dtype)` gives (NaNs aside, see _via_float32).
        """
        start, stored, shape = self._entries[key]
        target = dtype if dtype is not None and stored.is_floating_point else stored
        tensor = torch.empty(shape, dtype=target)
        count = shape.numel()
        if not count:
            return tensor
        offset = self._base + start
        with open(self.path, "rb", buffering=0) as f:
            if os.fstat(f.fileno()).st_size < offset + count * stored.itemsize:
                raise CheckpointError(f"{self.path}: ends inside tensor {key!r}; the file was truncated")
            flat = tensor.reshape(-1)
            if target == stored:
                self._pread(f.fileno(), flat.view(torch.uint8), offset, key)
                return tensor
            per = max(_STAGING_BYTES // stored.itemsize, 1)
            if self._staging is None or self._staging.dtype != stored:
                self._staging = torch.empty(per, dtype=stored)
            via = self._via_float32(stored, target, per)
            for first in range(0, count, per):
                part = self._staging[:min(per, count - first)]
                self._pread(f.fileno(), part.view(torch.uint8), offset + first * stored.itemsize, key)
                if via is not None:
                    part = via[:part.numel()].copy_(part)
                flat[first:first + part.numel()].copy_(part)
        return tensor

    def _via_float32(self, stored: torch.dtype, target: torch.dtype, per: int) -> torch.Tensor | None:
        """A float32 chunk to pass fp16 -> bf16 through: torch converts that pair element by
        element (about 3.6x slower, measured, than fp16 -> fp32 -> bf16, both vectorised). The
        same bits for every value; only NaNs keep their sign and payload instead of becoming
        the one canonical NaN."""
        if (stored, target) != (torch.float16, torch.bfloat16):
            return None
        if self._float32 is None or self._float32.numel() < per:
            self._float32 = torch.empty(per, dtype=torch.float32)
        return self._float32

    def _pread(self, fd: int, into: torch.Tensor, offset: int, key: str) -> None:
        view, done = memoryview(into.numpy()), 0
        while done < len(view):
            got = os.preadv(fd, [view[done:]], offset + done)
            if not got:
                raise CheckpointError(f"{self.path}: ends inside tensor {key!r}; the file was truncated")
            done += got

    def __contains__(self, key: object) -> bool:  # Mapping's default would read the tensor
        return key in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def read_as(tensors: Mapping[str, torch.Tensor], key: str, dtype: torch.dtype) -> torch.Tensor:
    """`tensors[key]` with floating tensors in `dtype`, converted while read where the file
    allows it (SafetensorsFile, shards of them), else converted after."""
    if isinstance(tensors, ChainMap):
        tensors = next((m for m in tensors.maps if key in m), tensors)
    if isinstance(tensors, SafetensorsFile):
        return tensors.read(key, dtype)
    tensor = tensors[key]
    return tensor.to(dtype) if tensor.is_floating_point() else tensor


def stored_dtype(tensors: Mapping[str, torch.Tensor], key: str) -> torch.dtype:
    """The dtype `tensors[key]` is stored in, without reading it from a safetensors file."""
    if isinstance(tensors, ChainMap):
        tensors = next((m for m in tensors.maps if key in m), tensors)
    if isinstance(tensors, SafetensorsFile):
        return tensors.stored_dtype(key)
    return tensors[key].dtype


def read_state_dict(path: str | os.PathLike, *, allow_pickle: bool = False) -> Mapping[str, torch.Tensor]:
    """All tensors of one .safetensors (or, opted in, pickle) file, on the CPU: safetensors
    files are read tensor by tensor as they are used (`SafetensorsFile`)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    if suffix in SAFE_SUFFIXES:
        return SafetensorsFile(path)
    if suffix in PICKLE_SUFFIXES:
        if not allow_pickle:
            raise pickle_refused(path)
        return _read_pickle(path)
    raise CheckpointError(f"{path}: unsupported model file type {suffix or '(none)'!r}; expected "
                          f"{', '.join(sorted(SAFE_SUFFIXES | PICKLE_SUFFIXES))}")


def _read_pickle(path: Path) -> dict[str, torch.Tensor]:
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: holds Python objects besides tensors, which weights_only loading refuses "
            f"({str(exc).splitlines()[0]}); convert it to .safetensors with a tool you trust") from None
    except (EOFError, OSError, RuntimeError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint; it may be truncated ({exc})") from None
    # Lightning-era .ckpt files wrap the weights: {"state_dict": {...}, "global_step": ...}.
    while isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a dict of tensors, found {type(data).__name__}")
    tensors = {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(f"{path}: contains no tensors")
    return tensors


def read_component_folder(folder: Path, *, allow_pickle: bool) -> Mapping[str, torch.Tensor]:
    """The weights of one diffusers component folder (unet/, vae/, text_encoder/, ...).

    Sharded files are merged; plain files win over variants such as `*.fp16.safetensors`.
    """
    def pick(files: list[Path]) -> list[Path]:
        plain = [f for f in files if len(f.name.split(".")) == 2]
        return sorted(plain or files)

    safe = pick([f for f in folder.iterdir() if f.suffix in SAFE_SUFFIXES]) if folder.is_dir() else []
    pickles = pick([f for f in folder.iterdir() if f.suffix in PICKLE_SUFFIXES]) if folder.is_dir() else []
    if not safe and not pickles:
        raise CheckpointError(f"{folder}: no weights file (*.safetensors) in this diffusers component folder")
    if not safe and not allow_pickle:
        raise pickle_refused(pickles[0])
    # Shards side by side, read as they are used; a later file's tensor of a name wins.
    return ChainMap(*reversed([read_state_dict(f, allow_pickle=allow_pickle) for f in safe or pickles]))
