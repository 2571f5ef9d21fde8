"""Textual-inversion embeddings in prompts: each vector takes one token position (checked
against the same vectors written into the vocabulary), weights apply, A1111/ComfyUI file formats,
and a missing name is an error that lists what is installed."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from nodeflow.diffusion.checkpoint_errors import CheckpointError
from nodeflow.diffusion.embeddings import EmbeddingLibrary, vectors
from nodeflow.diffusion.text_encoding import encode_prompt
from nodeflow.diffusion.tokenizer import load_clip_tokenizer

from .conftest import capture, computed, run

L = lambda node, out: {"node": node, "output": out}  # noqa: E731


@pytest.fixture(scope="module")
def library(base):
    folder = base / "models" / "embeddings"
    (folder / "styles").mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(0)
    shiny = torch.randn(2, 32, generator=gen)
    save_file({"emb_params": shiny}, folder / "Shiny.safetensors")
    torch.save({"string_to_param": {"*": torch.randn(1, 32, generator=gen)}, "name": "old"},
               folder / "styles" / "old.pt")
    return EmbeddingLibrary(base), shiny


@pytest.fixture(scope="module")
def clip(executor):
    from nodeflow.diffusion.checkpoints import load_checkpoint

    folder = executor.settings.base_dir / "models" / "checkpoints"
    return load_checkpoint(folder / "tiny-sd1.safetensors",
                           configs=folder / "tiny-sd1.configs").text_encoders[0]


def test_each_vector_takes_one_token_position(library, clip):
    lib, shiny = library
    tokenizer = load_clip_tokenizer("eos")
    got, _ = encode_prompt("a embedding:Shiny, cat", tokenizer, clip, embeddings=lib)
    # the reference: the vectors written into the vocabulary at two spare ids
    spare = [40000, 40001]
    patched = __import__("copy").deepcopy(clip)
    with torch.no_grad():
        patched.get_input_embeddings().weight[spare] = shiny
    words = tokenizer(["a", ",", "cat"], add_special_tokens=False)["input_ids"]
    body = words[0] + spare + words[1] + words[2]
    ids = [tokenizer.bos_token_id, *body, tokenizer.eos_token_id]
    ids += [tokenizer.eos_token_id] * (77 - len(ids))
    with torch.no_grad():
        expected = patched(input_ids=torch.tensor([ids])).last_hidden_state
    assert torch.allclose(got, expected, atol=1e-6)
    weighted, _ = encode_prompt("a (embedding:Shiny:1.4) cat", tokenizer, clip, embeddings=lib)
    assert not torch.allclose(weighted, got[:, :], atol=1e-4)
    plain, _ = encode_prompt("a cat", tokenizer, clip)
    same, _ = encode_prompt("a cat", tokenizer, clip, embeddings=lib)
    assert torch.equal(plain, same)  # prompts without embeddings are untouched


def test_file_formats_and_refusals(library, base):
    lib, shiny = library
    assert torch.equal(lib.lookup("Shiny", 32)[0], shiny)
    assert lib.lookup("Shiny,", 32)[1] == ","
    with pytest.raises(CheckpointError, match="--allow-pickle"):
        lib.lookup("styles/old", 32)
    old, _ = EmbeddingLibrary(base, allow_pickle=True).lookup("styles/old", 32)
    assert old.shape == (1, 32)
    with pytest.raises(CheckpointError, match=r"'nope' is not in models/embeddings \(installed: "
                                              r"Shiny\.safetensors"):
        lib.lookup("nope", 32)
    with pytest.raises(CheckpointError, match="32 wide, used with one 768 wide"):
        lib.lookup("Shiny", 768)
    with pytest.raises(CheckpointError, match="not allowed"):
        lib.find("../checkpoints/tiny-sd1")
    pair = {"clip_l": torch.zeros(3, 768), "clip_g": torch.ones(3, 1280)}
    assert vectors(pair, 1280, "clip_g", "x").sum() == 3 * 1280
    assert vectors(pair, 768, "clip_l", "x").shape == (3, 768)


def test_text_encode_node_uses_embeddings(executor, library):
    graph = {"nodeflow": 1, "nodes": {
        "ckpt": {"type": "CheckpointLoader", "inputs": {"checkpoint": "tiny-sd1.safetensors"}},
        "pos": {"type": "TextEncode", "inputs": {"clip": L("ckpt", "clip"),
                                                 "text": "a embedding:Shiny cat"}}}}
    with_embedding = computed(executor, graph, "pos", "conditioning").entries[0].cond
    graph["nodes"]["pos"]["inputs"]["text"] = "a cat"
    without = computed(executor, graph, "pos", "conditioning").entries[0].cond
    assert not torch.equal(with_embedding, without)
    graph["nodes"]["pos"]["inputs"]["text"] = "a embedding:Missing cat"
    result = run(executor, capture(graph, "pos", "conditioning"))
    assert result.status == "error" and "'Missing' is not in models/embeddings" in str(result.error)
