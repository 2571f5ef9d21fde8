"""T2I-Adapters through ControlNetLoader and Apply ControlNet: TencentARC's and diffusers'
layouts load diffusers' T2IAdapter (full, light, XL) with the same weights, the UNet gets the
adapter's features x strength in its down blocks (diffusers' adapter pipeline as the
reference), and a ControlNet that takes a latent hint gets the VAE-encoded image."""
from __future__ import annotations

import re
import shutil

import pytest
import torch
from safetensors.torch import save_file

from nodeflow.diffusion.controlnet import load_controlnet
from nodeflow.diffusion.t2i_adapter import features

from .conftest import capture, computed, run, txt2img

L = lambda node, out: {"node": node, "output": out}  # noqa: E731


def original_layout(adapter) -> dict[str, torch.Tensor]:
    """A diffusers T2IAdapter's tensors under TencentARC's names (written independently of
    the loader's conversion: full adapters number resnets flat, light ones nest them)."""
    full = adapter.config.adapter_type != "light_adapter"
    out = {}
    for key, value in adapter.state_dict().items():
        name = key.removeprefix("adapter.")
        if full:
            name = re.sub(r"^body\.(\d+)\.resnets\.(\d+)\.", lambda m: f"body.{2 * int(m[1]) + int(m[2])}.", name)
            name = re.sub(r"^body\.(\d+)\.in_conv\.", lambda m: f"body.{2 * int(m[1])}.in_conv.", name)
        else:
            name = re.sub(r"^body\.(\d+)\.resnets\.(\d+)\.", r"body.\1.body.\2.", name)
        out[name] = value.contiguous()
    return out


def tiny_adapter(kind: str, channels, in_channels: int = 3, seed: int = 0):
    from diffusers import T2IAdapter

    torch.manual_seed(seed)
    factor = 16 if kind == "full_adapter_xl" else 8
    adapter = T2IAdapter(in_channels=in_channels, channels=channels, num_res_blocks=2 if kind != "light_adapter" else 3,
                         downscale_factor=factor, adapter_type=kind)
    with torch.no_grad():
        for p in adapter.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return adapter.eval()


@pytest.fixture(scope="module")
def adapter(base):
    net = tiny_adapter("full_adapter", [16, 32])
    folder = base / "models" / "controlnet"
    folder.mkdir(parents=True, exist_ok=True)
    save_file(original_layout(net), folder / "tiny-t2i.safetensors")
    return net


def same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("kind,channels,in_channels", [("full_adapter", [16, 32], 3), ("full_adapter", [16, 32], 1),
                                                       ("light_adapter", [16, 32], 3),
                                                       ("full_adapter_xl", [16, 32, 32, 32], 3)])
def test_both_layouts_load_diffusers_adapter_with_the_same_weights(tmp_path, kind, channels, in_channels):
    net = tiny_adapter(kind, channels, in_channels)
    save_file(original_layout(net), tmp_path / "original.safetensors")
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, tmp_path / "diffusers.safetensors")
    for name in ("original", "diffusers"):
        loaded, family = load_controlnet(tmp_path / f"{name}.safetensors")
        assert type(loaded).__name__ == "T2IAdapter" and same_weights(loaded, net)
        assert loaded.config.adapter_type == kind and loaded.config.in_channels == in_channels
        assert family == ("sdxl" if kind == "full_adapter_xl" else "sd1")
    net.save_pretrained(tmp_path / "folder")  # a diffusers folder (config.json + weights)
    loaded, _ = load_controlnet(tmp_path / "folder")
    assert same_weights(loaded, net)
    hint = torch.rand(1, 40, 40, 3)
    got = features(loaded, hint, 5, 5, torch.float32)  # 8x the latent, up to the unshuffle factor
    size = 48 if kind == "full_adapter_xl" else 40
    pixels = torch.nn.functional.interpolate(hint.movedim(-1, 1), size=(size, size), mode="nearest-exact")
    if in_channels == 1:
        pixels = pixels.mean(dim=1, keepdim=True)
    with torch.no_grad():
        expected = net(pixels)
    assert len(got) == len(expected) and all(torch.equal(a, b) for a, b in zip(got, expected))


def test_the_unet_gets_the_adapter_features_times_strength(base, adapter):
    from nodeflow.diffusion.checkpoints import load_checkpoint
    from nodeflow.diffusion.controlnet import BoundControl
    from nodeflow.diffusion.sampling import UNetDenoiser
    from nodeflow.diffusion.schedules import sd_schedule

    folder = base / "models" / "checkpoints"
    unet = load_checkpoint(folder / "tiny-sd1.safetensors", configs=folder / "tiny-sd1.configs").unet
    loaded, _ = load_controlnet(base / "models" / "controlnet" / "tiny-t2i.safetensors")
    schedule = sd_schedule()
    hint = torch.rand(1, 32, 32, 3)
    bound = BoundControl(loaded, "sd1", hint, 0.7, 1e9, 0.0, torch.float32, None)
    x, sigma, ehs = torch.randn(1, 4, 16, 16), torch.tensor([3.0]), torch.randn(1, 77, 32)
    x_in, t = x / (3.0 ** 2 + 1) ** 0.5, schedule.timestep(sigma).float()
    with torch.no_grad():
        got = UNetDenoiser(unet, schedule)(x, sigma, encoder_hidden_states=ehs, control=bound)
        again = UNetDenoiser(unet, schedule)(x, sigma, encoder_hidden_states=ehs, control=bound)
        pixels = torch.nn.functional.interpolate(hint.movedim(-1, 1), size=(128, 128), mode="nearest-exact")
        residuals = [f * 0.7 for f in adapter(pixels)]  # diffusers' StableDiffusionAdapterPipeline
        eps = unet(x_in, t, ehs, down_intrablock_additional_residuals=residuals).sample
        plain = unet(x_in, t, ehs).sample
    assert torch.allclose(got, x - eps * 3.0, atol=1e-5) and torch.equal(got, again)
    assert not torch.allclose(eps, plain, atol=1e-3)


def adapter_workflow(strength: float, name: str = "tiny-t2i.safetensors"):
    graph = txt2img(steps=2, save=False)
    nodes = graph["nodes"]
    nodes["hint"] = {"type": "SolidMask", "inputs": {"value": 1.0, "width": 32, "height": 32}}
    nodes["image"] = {"type": "MaskToImage", "inputs": {"mask": L("hint", "mask")}}
    nodes["cn"] = {"type": "ControlNetLoader", "inputs": {"control_net_name": name}}
    nodes["apply"] = {"type": "ControlNetApplyAdvanced", "inputs": {
        "positive": L("pos", "conditioning"), "negative": L("neg", "conditioning"),
        "control_net": L("cn", "control_net"), "image": L("image", "image"), "strength": strength}}
    nodes["sample"]["inputs"].update(positive=L("apply", "positive"), negative=L("apply", "negative"))
    return graph


def test_an_adapter_guides_sampling_through_the_nodes(executor, base, adapter):
    plain = computed(executor, txt2img(steps=2, save=False), "sample", "latent").samples
    assert torch.equal(computed(executor, adapter_workflow(0.0), "sample", "latent").samples, plain)
    guided = computed(executor, adapter_workflow(1.0), "sample", "latent").samples
    assert (guided - plain).abs().max() > 1e-3
    adapter.save_pretrained(base / "models" / "controlnet" / "tiny-t2i-folder")  # diffusers' folder
    folder = computed(executor, adapter_workflow(1.0, "tiny-t2i-folder"), "sample", "latent").samples
    assert torch.equal(folder, guided)


def test_an_sdxl_adapter_on_an_sd1_model_is_refused(executor, base):
    save_file(original_layout(tiny_adapter("full_adapter_xl", [16, 32, 32, 32])),
              base / "models" / "controlnet" / "tiny-t2i-xl.safetensors")
    result = run(executor, capture(adapter_workflow(1.0, "tiny-t2i-xl.safetensors"), "sample", "latent"))
    assert result.status == "error" and "sdxl T2I-Adapter cannot guide a sd1 model" in str(result.error)


@pytest.fixture(scope="module")
def latent_controlnet(base):
    """A ControlNet whose hint embedding keeps the latent's size and takes 4 channels."""
    from diffusers import ControlNetModel

    from nodeflow.diffusion.checkpoints import load_checkpoint
    from nodeflow.diffusion.controlnet import to_original_layout

    folder = base / "models" / "checkpoints"
    unet = load_checkpoint(folder / "tiny-sd1.safetensors", configs=folder / "tiny-sd1.configs").unet
    torch.manual_seed(3)
    net = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16,), conditioning_channels=4)
    with torch.no_grad():
        for module in [*net.controlnet_down_blocks, net.controlnet_mid_block, net.controlnet_cond_embedding.conv_out]:
            module.weight.normal_(0, 0.3)
    target = base / "models" / "controlnet"
    target.mkdir(parents=True, exist_ok=True)
    save_file(to_original_layout(net), target / "tiny-latent-cn.safetensors")
    shutil.copytree(folder / "tiny-sd1.configs", target / "tiny-latent-cn.configs", dirs_exist_ok=True)
    return net


def test_a_latent_hint_controlnet_gets_the_vae_encoded_hint(executor, base, latent_controlnet):
    from types import SimpleNamespace

    from nodeflow.diffusion.controlnet import BoundControl, takes_latent_hint
    from nodeflow.diffusion.runtime import Runtime

    loaded, _ = load_controlnet(base / "models" / "controlnet" / "tiny-latent-cn.safetensors")
    assert takes_latent_hint(loaded) and loaded.config.conditioning_channels == 4
    graph = adapter_workflow(1.0, "tiny-latent-cn.safetensors")
    result = run(executor, capture(graph, "sample", "latent"))
    assert result.status == "error" and "needs a VAE" in str(result.error)
    assert "vae" in str(result.error)

    graph["nodes"]["apply"]["inputs"]["vae"] = L("ckpt", "vae")
    guided = computed(executor, graph, "sample", "latent").samples
    plain = computed(executor, txt2img(steps=2, save=False), "sample", "latent").samples
    assert (guided - plain).abs().max() > 1e-3
    # the hint the ControlNet sees is VAEEncode's latent of the image, scaled as the model's
    graph["nodes"]["encode"] = {"type": "VAEEncode", "inputs": {"image": L("image", "image"),
                                                                "vae": L("ckpt", "vae")}}
    encoded = computed(executor, graph, "encode", "latent").samples
    vae = computed(executor, graph, "ckpt", "vae").load(SimpleNamespace(models=executor.models),
                                                        Runtime.choose("fp32", "cpu"))
    image = computed(executor, graph, "image", "image")
    bound = BoundControl(loaded, "sd1", image, 1.0, 1e9, 0.0, torch.float32, None, vae=vae,
                         latent_scale=0.18215)
    hint = bound._hint(torch.zeros(1, 4, *encoded.shape[-2:]))
    assert torch.allclose(hint, encoded * 0.18215, atol=1e-5)


def test_sdxl_adapter_features_land_where_comfyui_adds_them():
    """An SDXL adapter's four features, placed by hooks the way ComfyUI's UNet applies them:
    after the first level's downsampling, after the last layer of the second and third levels,
    and after the middle block (each also reaching that level's skip connection)."""
    from diffusers import UNet2DConditionModel

    from nodeflow.diffusion.controlnet import BoundControl
    from nodeflow.diffusion.sampling import UNetDenoiser
    from nodeflow.diffusion.schedules import sd_schedule

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(16, 32, 64), layers_per_block=2, norm_num_groups=8, cross_attention_dim=64,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4, 8), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, projection_class_embeddings_input_dim=6 * 8 + 16).eval()
    adapter = tiny_adapter("full_adapter_xl", [16, 32, 64, 64])
    hint = torch.rand(1, 64, 64, 3)
    x, sigma = torch.randn(1, 4, 8, 8), torch.tensor([2.0])
    added = {"text_embeds": torch.randn(1, 16), "time_ids": torch.tensor([[64.0, 64, 0, 0, 64, 64]])}
    ehs = torch.randn(1, 77, 64)
    schedule = sd_schedule()
    bound = BoundControl(adapter, "sdxl", hint, 0.8, 1e9, 0.0, torch.float32, None)
    with torch.no_grad():
        got = UNetDenoiser(unet, schedule)(x, sigma, encoder_hidden_states=ehs, control=bound,
                                           added_cond_kwargs=added)
        f0, f1, f2, f3 = (f * 0.8 for f in adapter(hint.movedim(-1, 1)))

        def after_first_level(module, args, output):
            hidden, skips = output
            hidden = hidden + f0
            return hidden, skips[:-1] + (hidden,)

        def add(feature):
            def hook(module, args, output):
                if isinstance(output, tuple):
                    return (output[0] + feature,) + tuple(output[1:])
                return output + feature
            return hook

        handles = [unet.down_blocks[0].register_forward_hook(after_first_level),
                   unet.down_blocks[1].attentions[-1].register_forward_hook(add(f1)),
                   unet.down_blocks[2].attentions[-1].register_forward_hook(add(f2)),
                   unet.mid_block.register_forward_hook(add(f3))]
        x_in, t = x / (2.0 ** 2 + 1) ** 0.5, schedule.timestep(sigma).float()
        eps = unet(x_in, t, ehs, added_cond_kwargs=added).sample
        for handle in handles:
            handle.remove()
        plain = unet(x_in, t, ehs, added_cond_kwargs=added).sample
    assert torch.allclose(got, x - eps * 2.0, atol=1e-5)
    assert not torch.allclose(eps, plain, atol=1e-3)
