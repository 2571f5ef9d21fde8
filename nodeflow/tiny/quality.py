"""How good is nodeflow-tiny? Three numbers from an independent judge (judge.py).

1. digit accuracy: 100 pictures (10 per digit) made through nodeflow's own Executor and nodes
   (CheckpointLoader, TextEncode, EmptyLatent 32x32, KSampler 20 steps euler cfg 5,
   VAEDecode, SaveImage), read back from the saved PNGs, each judged by an SVM trained on the
   original 8x8 digits. 4 of every 5 prompts name an ink and a background colour, the fifth
   only the digit ("a handwritten digit seven").
2. colour-word accuracy: each colour word of those prompts against the judged ink/background.
3. VAE round trip: all 1,797 training digits, painted in random palette pairs, encoded (mean)
   and decoded by the model's VAE (nodeflow.diffusion.vae_ops), then judged the same way.

`python -m nodeflow.tiny.quality [--model DIR] [--grid PNG]` prints them; the goals are
digit >= 95%, colour words >= 90%, round trip >= 99%, and the exit code is 1 if one is missed.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import MODEL_NAME, data, judge

GOALS = {"digit": 0.95, "color": 0.90, "round_trip": 0.99}
STEPS, CFG, SAMPLER = 20, 5.0, "euler"


@dataclass(frozen=True)
class Request:
    digit: int
    color: str | None
    background: str | None
    seed: int

    @property
    def text(self) -> str:
        return data.prompt(self.digit, self.color, self.background)


def requests(per_digit: int = 10, seed: int = 0) -> list[Request]:
    """The fixed test prompts: `per_digit` per digit, every fifth without colours."""
    rng = np.random.default_rng(seed)
    out = []
    for digit in range(10):
        inks, papers = data.color_pairs(rng, per_digit)
        for i in range(per_digit):
            plain = i % 5 == 4
            out.append(Request(digit, None if plain else data.COLORS[inks[i]],
                               None if plain else data.COLORS[papers[i]], seed=1000 * digit + i))
    return out


def txt2img(checkpoint: str, text: str, seed: int, prefix: str = "quality") -> dict:
    """The txt2img graph with the settings the numbers are quoted for."""
    link = lambda node, output: {"node": node, "output": output}
    return {"nodeflow": 1, "name": "quality", "nodes": {
        "ckpt": {"type": "CheckpointLoader", "inputs": {"checkpoint": checkpoint}},
        "pos": {"type": "TextEncode", "inputs": {"clip": link("ckpt", "clip"), "text": text}},
        "neg": {"type": "TextEncode", "inputs": {"clip": link("ckpt", "clip"), "text": ""}},
        "latent": {"type": "EmptyLatent", "inputs": {"width": 32, "height": 32, "batch_size": 1}},
        "sample": {"type": "KSampler", "inputs": {
            "model": link("ckpt", "model"), "positive": link("pos", "conditioning"),
            "negative": link("neg", "conditioning"), "latent": link("latent", "latent"),
            "seed": seed, "steps": STEPS, "cfg": CFG, "sampler": SAMPLER, "scheduler": "normal"}},
        "decode": {"type": "VAEDecode", "inputs": {"latent": link("sample", "latent"),
                                                   "vae": link("ckpt", "vae")}},
        "save": {"type": "SaveImage", "inputs": {"images": link("decode", "image"), "prefix": prefix}},
    }}


def generate(items: list[Request], base_dir: Path, model_dir: Path | None = None) -> np.ndarray:
    """Pictures [N, 32, 32, 3] uint8 for `items`, made by the Executor in `base_dir`.

    `model_dir` (a diffusers folder) is installed into the base folder's checkpoints and used
    instead of the shipped model.
    """
    from PIL import Image

    from nodeflow.engine.executor import Executor
    from nodeflow.plugins import load_registry
    from nodeflow.settings import Settings
    from nodeflow.workflow import parse_workflow

    name = MODEL_NAME
    if model_dir is not None:
        name = "candidate"
        target = base_dir / "models" / "checkpoints" / name
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(model_dir, target)
    settings = Settings(base_dir=base_dir)
    executor = Executor(load_registry(settings), settings)
    pictures = []
    for item in items:
        result = executor.run(parse_workflow(txt2img(name, item.text, item.seed)))
        if result.status != "success":
            raise RuntimeError(f"{item.text!r}: {result.error}")
        [saved] = result.outputs["save"]["images"]
        path = base_dir / "output" / saved["subfolder"] / saved["filename"]
        pictures.append(np.asarray(Image.open(path).convert("RGB")))
    return np.stack(pictures)


def score(items: list[Request], pictures: np.ndarray) -> dict[str, float]:
    """Digit accuracy and colour-word accuracy of pictures made for `items`."""
    digits = judge.digits(pictures)
    inks, papers = judge.colors(pictures)
    right = total = 0
    for item, ink, paper in zip(items, inks, papers):
        for wanted, seen in ((item.color, ink), (item.background, paper)):
            if wanted is not None:
                total += 1
                right += wanted == seen
    return {"digit": float(np.mean(digits == [i.digit for i in items])),
            "color": right / total if total else float("nan")}


def round_trip(model_dir: Path, seed: int = 0) -> float:
    """Share of the training digits the judge still reads correctly after the VAE."""
    import torch

    from nodeflow.diffusion.checkpoints import load_checkpoint
    from nodeflow.diffusion.vae_ops import decode, encode

    vae = load_checkpoint(model_dir).vae
    masks = data.masks()
    _, labels = data.source_digits()
    inks, papers = data.color_pairs(np.random.default_rng(seed), len(masks))
    images = np.stack([data.paint(m, data.COLORS[i], data.COLORS[p]) for m, i, p in zip(masks, inks, papers)])
    out = []
    for start in range(0, len(images), 256):
        batch = torch.from_numpy(images[start:start + 256]).float()
        out.append(decode(vae, encode(vae, batch, "mean")).numpy())
    pictures = np.round(np.concatenate(out) * 255).astype(np.uint8)
    return float(np.mean(judge.digits(pictures) == labels))


def grid(pictures: np.ndarray, columns: int, zoom: int = 2):
    """A PIL image of the pictures in rows of `columns`, each enlarged `zoom` times."""
    from PIL import Image

    rows = -(-len(pictures) // columns)
    size = pictures.shape[1] * zoom
    sheet = Image.new("RGB", (columns * (size + 2) + 2, rows * (size + 2) + 2), (128, 128, 128))
    for k, picture in enumerate(pictures):
        tile = Image.fromarray(picture).resize((size, size), Image.NEAREST)
        sheet.paste(tile, (2 + (k % columns) * (size + 2), 2 + (k // columns) * (size + 2)))
    return sheet


def shipped_model() -> Path:
    from nodeflow.paths import shipped_dir

    return shipped_dir("models") / MODEL_NAME


def measure(model_dir: Path | None = None, *, per_digit: int = 10, grid_path: Path | None = None,
            log=print) -> dict[str, float]:
    """The three numbers for `model_dir` (default: the shipped model)."""
    items = requests(per_digit)
    with tempfile.TemporaryDirectory(prefix="nodeflow-quality-") as tmp:
        pictures = generate(items, Path(tmp), model_dir)
    numbers = score(items, pictures)
    if grid_path is not None:
        grid(pictures, per_digit).save(grid_path)
        log(f"wrote {grid_path}")
    numbers["round_trip"] = round_trip(model_dir or shipped_model())
    return numbers


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m nodeflow.tiny.quality", description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a diffusers folder to judge instead of the shipped model")
    parser.add_argument("--grid", type=Path, help="also save the generated pictures as a grid (PNG)")
    parser.add_argument("--per-digit", type=int, default=10)
    args = parser.parse_args(argv)
    numbers = measure(args.model, per_digit=args.per_digit, grid_path=args.grid)
    n = 10 * args.per_digit
    print(f"digit correct:       {numbers['digit']:.1%} of {n} pictures (goal >= {GOALS['digit']:.0%}; "
          f"{STEPS} steps {SAMPLER}, cfg {CFG:g})")
    print(f"colour words correct: {numbers['color']:.1%} (goal >= {GOALS['color']:.0%})")
    print(f"VAE round trip:      {numbers['round_trip']:.1%} of 1797 training digits read correctly "
          f"(goal >= {GOALS['round_trip']:.0%})")
    return 0 if all(numbers[k] >= goal for k, goal in GOALS.items()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
