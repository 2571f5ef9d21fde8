"""ControlNet on tiny models: both file layouts load the same weights, the sampler adds the
residuals (strength, start/end range, stacking) as ComfyUI does, a difference ControlNet is
completed from its model, and an end-to-end img2img from a Canny edge map; SDXL too."""
from __future__ import annotations

import shutil

import pytest
import torch
from safetensors.torch import save_file

from nodeflow.diffusion.controlnet import load_controlnet, to_original_layout

from .conftest import computed, install_tiny, txt2img

L = lambda node, out: {"node": node, "output": out}  # noqa: E731


def tiny_controlnet(base, checkpoint: str, name: str, seed: int = 0):
    """A random ControlNet for a tiny checkpoint (zero convolutions made non-zero), written in
    the original layout with the checkpoint's configs beside it; returns the module."""
    from diffusers import ControlNetModel

    from nodeflow.diffusion.checkpoints import load_checkpoint

    folder = base / "models" / "checkpoints"
    configs = folder / (checkpoint.removesuffix(".safetensors") + ".configs")
    unet = load_checkpoint(folder / checkpoint, configs=configs).unet
    torch.manual_seed(seed)
    net = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32, 96, 256))
    with torch.no_grad():
        for module in [*net.controlnet_down_blocks, net.controlnet_mid_block,
                       net.controlnet_cond_embedding.conv_out]:
            module.weight.normal_(0, 0.3)
    target = base / "models" / "controlnet"
    target.mkdir(parents=True, exist_ok=True)
    save_file(to_original_layout(net), target / name)
    shutil.copytree(configs, target / name.replace(".safetensors", ".configs"), dirs_exist_ok=True)
    return net.eval(), unet


@pytest.fixture(scope="module")
def controlnet(base):
    return tiny_controlnet(base, "tiny-sd1.safetensors", "tiny-cn.safetensors")


def test_both_layouts_load_the_same_weights(base, controlnet):
    net, _ = controlnet
    folder = base / "models" / "controlnet"
    loaded, family = load_controlnet(folder / "tiny-cn.safetensors")
    assert family == "sd1"
    expected = net.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in loaded.state_dict().items())
    save_file({k: v.contiguous() for k, v in expected.items()}, folder / "tiny-cn-diffusers.safetensors")
    shutil.copytree(folder / "tiny-cn.configs", folder / "tiny-cn-diffusers.configs",
                    dirs_exist_ok=True)
    loaded, _ = load_controlnet(folder / "tiny-cn-diffusers.safetensors")
    assert all(torch.equal(v, expected[k]) for k, v in loaded.state_dict().items())


def edge_workflow(strength=1.0, start=0.0, end=1.0, stack=False):
    """img2img from the edges of a first picture, guided by the ControlNet."""
    graph = txt2img(steps=2, save=False)
    nodes = graph["nodes"]
    nodes["first"] = dict(nodes["sample"], inputs=dict(nodes["sample"]["inputs"], seed=11))
    nodes["pixels"] = {"type": "VAEDecode", "inputs": {"latent": L("first", "latent"),
                                                       "vae": L("ckpt", "vae")}}
    nodes["edges"] = {"type": "Canny", "inputs": {"image": L("pixels", "image"),
                                                  "low_threshold": 0.2, "high_threshold": 0.5}}
    nodes["start"] = {"type": "VAEEncode", "inputs": {"image": L("pixels", "image"),
                                                      "vae": L("ckpt", "vae")}}
    nodes["cn"] = {"type": "ControlNetLoader", "inputs": {"control_net_name": "tiny-cn.safetensors"}}
    nodes["apply"] = {"type": "ControlNetApplyAdvanced", "inputs": {
        "positive": L("pos", "conditioning"), "negative": L("neg", "conditioning"),
        "control_net": L("cn", "control_net"), "image": L("edges", "image"),
        "strength": strength, "start_percent": start, "end_percent": end}}
    positive, negative = L("apply", "positive"), L("apply", "negative")
    if stack:
        nodes["again"] = {"type": "ControlNetApply", "inputs": {
            "conditioning": L("apply", "positive"), "control_net": L("cn", "control_net"),
            "image": L("pixels", "image"), "strength": 0.5}}
        positive = L("again", "conditioning")
    nodes["sample"]["inputs"].update(positive=positive, negative=negative,
                                     latent=L("start", "latent"), denoise=0.7)
    return graph


def test_controlnet_img2img_from_a_canny_edge_map(executor, controlnet):
    edges = computed(executor, edge_workflow(), "edges", "image")
    assert edges.shape == (1, 32, 32, 3) and set(edges.unique().tolist()) <= {0.0, 1.0}
    plain = computed(executor, edge_workflow(strength=0.0), "sample", "latent").samples
    guided = computed(executor, edge_workflow(), "sample", "latent").samples
    assert (guided - plain).abs().max() > 1e-3
    outside = computed(executor, edge_workflow(start=1.0, end=1.0), "sample", "latent").samples
    assert torch.allclose(outside, plain, atol=1e-6)  # a range that no step falls in
    stacked = computed(executor, edge_workflow(stack=True), "sample", "latent").samples
    assert (stacked - guided).abs().max() > 1e-3


def test_the_unet_gets_the_residuals_times_strength(controlnet):
    from nodeflow.diffusion.controlnet import BoundControl
    from nodeflow.diffusion.sampling import UNetDenoiser
    from nodeflow.diffusion.schedules import sd_schedule

    net, unet = controlnet
    schedule = sd_schedule()
    hint = torch.rand(1, 16, 16, 3)
    first = BoundControl(net, "sd1", hint, 0.5, 1e9, 0.0, torch.float32, None)
    both = BoundControl(net, "sd1", torch.rand(1, 16, 16, 3), 2.0, 1e9, 0.0, torch.float32, first)
    x, sigma = torch.randn(1, 4, 4, 4), torch.tensor([3.0])
    ehs = torch.randn(1, 77, 32)
    x_in, t = x / (3.0 ** 2 + 1) ** 0.5, schedule.timestep(sigma).float()
    with torch.no_grad():
        got = UNetDenoiser(unet, schedule)(x, sigma, encoder_hidden_states=ehs, control=both)
        hints = [torch.nn.functional.interpolate(h.movedim(-1, 1), size=(32, 32),
                                                 mode="nearest-exact") for h in (hint, both.hint)]
        parts = [net(x_in, t, encoder_hidden_states=ehs, controlnet_cond=h, conditioning_scale=s,
                     return_dict=False) for h, s in zip(hints, (0.5, 2.0))]
        down = [a + b for a, b in zip(parts[0][0], parts[1][0])]
        eps = unet(x_in, t, ehs, down_block_additional_residuals=down,
                   mid_block_additional_residual=parts[0][1] + parts[1][1]).sample
    assert torch.allclose(got, x - eps * 3.0, atol=1e-5)


def test_difference_controlnet_is_completed_from_its_model(executor, base, controlnet):
    net, unet = controlnet
    from nodeflow.diffusion import checkpoint_keys as keys

    original = to_original_layout(net)
    unet_sd = unet.state_dict()
    base_sd = {"control_model." + o: unet_sd[k]
               for k, o in keys.unet_key_map(unet_sd, unet.config).items()}
    diff = {k: (v - base_sd[k] if k in base_sd else v).contiguous() for k, v in original.items()}
    diff["difference"] = torch.zeros(0)
    folder = base / "models" / "controlnet"
    save_file(diff, folder / "tiny-cn-diff.safetensors")
    shutil.copytree(folder / "tiny-cn.configs", folder / "tiny-cn-diff.configs", dirs_exist_ok=True)
    graph = edge_workflow()
    graph["nodes"]["cn"] = {"type": "DiffControlNetLoader", "inputs": {
        "model": L("ckpt", "model"), "control_net_name": "tiny-cn-diff.safetensors"}}
    guided = computed(executor, edge_workflow(), "sample", "latent").samples
    assert torch.allclose(computed(executor, graph, "sample", "latent").samples, guided, atol=1e-5)


def test_sdxl_controlnet(executor, base):
    name = install_tiny(base, "sdxl", name="tiny-sdxl-cn-base.safetensors")
    tiny_controlnet(base, name, "tiny-cn-xl.safetensors")
    graph = txt2img(name, steps=1, save=False)
    graph["nodes"]["cn"] = {"type": "ControlNetLoader", "inputs": {
        "control_net_name": "tiny-cn-xl.safetensors"}}
    graph["nodes"]["hint"] = {"type": "SolidMask", "inputs": {"value": 1.0, "width": 32,
                                                              "height": 32}}
    graph["nodes"]["hint_image"] = {"type": "MaskToImage", "inputs": {"mask": L("hint", "mask")}}
    graph["nodes"]["apply"] = {"type": "ControlNetApply", "inputs": {
        "conditioning": L("pos", "conditioning"), "control_net": L("cn", "control_net"),
        "image": L("hint_image", "image"), "strength": 1.0}}
    plain = computed(executor, graph, "sample", "latent").samples
    graph["nodes"]["sample"]["inputs"]["positive"] = L("apply", "conditioning")
    guided = computed(executor, graph, "sample", "latent").samples
    assert guided.shape == plain.shape and (guided - plain).abs().max() > 1e-3
    # a SD 1.x ControlNet on an SDXL model is refused by name
    graph["nodes"]["cn"]["inputs"]["control_net_name"] = "tiny-cn.safetensors"
    from .conftest import capture, run

    result = run(executor, capture(graph, "sample", "latent"))
    assert result.status == "error" and "sd1 ControlNet cannot guide a sdxl model" in str(result.error)
