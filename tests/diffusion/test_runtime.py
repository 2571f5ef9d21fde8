"""--precision auto: the fastest precision the hardware runs natively, and the run says which."""
from __future__ import annotations

import pytest
import torch

from nodeflow.diffusion import runtime
from nodeflow.diffusion.runtime import Runtime


@pytest.mark.parametrize("native, expected", [(True, torch.bfloat16), (False, torch.float32)])
def test_auto_on_the_cpu_takes_bf16_only_with_bf16_matrix_instructions(monkeypatch, native, expected):
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: native)
    chosen = Runtime.choose("auto", "cpu")
    assert chosen.dtype == expected and chosen.vae_dtype == (torch.bfloat16 if native else torch.float32)
    assert "auto: this CPU has" in chosen.describe() and str(expected).removeprefix("torch.") in chosen.describe()


@pytest.mark.parametrize("bf16, expected", [(True, torch.bfloat16), (False, torch.float16)])
def test_auto_on_cuda_follows_the_gpus_capability(monkeypatch, bf16, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    chosen = Runtime.choose("auto", "cuda")
    assert chosen.dtype == expected and chosen.vae_dtype != torch.float16  # SD VAEs overflow in fp16


def test_explicit_precisions_are_taken_as_they_are(monkeypatch):
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: True)
    assert Runtime.choose("fp32", "cpu").dtype == torch.float32 and Runtime.choose("fp32", "cpu").why == ""
    assert Runtime.choose("bf16", "cpu").dtype == torch.bfloat16
    assert Runtime.choose("bf16", "cpu").why == ""
    with pytest.raises(ValueError, match="fp16 is not supported on the CPU"):
        Runtime.choose("fp16", "cpu")
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        Runtime.choose("fp8", "cpu")


def test_bf16_asked_for_on_a_cpu_without_bf16_instructions_stores_bf16_and_sums_in_fp32(monkeypatch):
    """oneDNN would emulate bf16 products there (100x slower convolutions on an AVX2 EPYC)."""
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: False)
    chosen = Runtime.choose("bf16", "cpu")
    assert (chosen.dtype, chosen.vae_dtype, chosen.storage) == (torch.float32, torch.float32, torch.bfloat16)
    assert chosen.describe() == ("device cpu, float32 with weights stored in bfloat16 or a file's own float16 "
                                 "(this CPU has no bf16 matrix instructions: bf16 weights, fp32 sums)")
    assert chosen.weights != Runtime.choose("fp32", "cpu").weights  # models cached apart
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: True)
    assert Runtime.choose("bf16", "cpu").storage is None and Runtime.choose("auto", "cpu").storage is None


def test_the_cpu_check_reads_the_flags_of_this_machine():
    flags = open("/proc/cpuinfo").read()
    assert runtime.cpu_has_native_bf16() == ("avx512_bf16" in flags or "amx_bf16" in flags)


def test_python_settings_default_to_fp32_and_the_command_line_to_auto(tmp_path):
    from nodeflow.cli import _parser
    from nodeflow.settings import Settings

    assert Settings(base_dir=tmp_path).precision == "fp32"
    assert _parser().parse_args(["run", "x.json"]).precision == "auto"
