"""The component configs of nodeflow-tiny: Stable Diffusion 1.x classes at toy sizes.

The same diffusers/transformers classes as SD 1.x (AutoencoderKL, UNet2DConditionModel with
conv attention projections, CLIPTextModel), so the model loads through nodeflow's ordinary
checkpoint path as the "sd1" family. Sizes were chosen by what trains in minutes on two CPU
cores: a VAE with downscale factor 4 (32x32x3 pixels -> 8x8x4 latents, one latent pixel per
pixel of the source digits), a two-level UNet with cross-attention at 4x4 and in the middle
block, and a two-layer text encoder on the real CLIP vocabulary (49,408 ids, 77 positions).
Functions return fresh dicts, so no caller can change another's config.
"""
from __future__ import annotations

TEXT_DIM = 64


def vae_config() -> dict:
    """AutoencoderKL, 0.24M parameters; scaling_factor is set after training (1 / latent std)."""
    return {
        "_class_name": "AutoencoderKL",
        "in_channels": 3, "out_channels": 3, "latent_channels": 4,
        "block_out_channels": [16, 32, 32], "layers_per_block": 1, "norm_num_groups": 8,
        "down_block_types": ["DownEncoderBlock2D"] * 3, "up_block_types": ["UpDecoderBlock2D"] * 3,
        "act_fn": "silu", "sample_size": 32, "scaling_factor": 1.0,
    }


def unet_config() -> dict:
    """UNet2DConditionModel, 2.2M parameters, on 8x8x4 latents."""
    return {
        "_class_name": "UNet2DConditionModel",
        "sample_size": 8, "in_channels": 4, "out_channels": 4,
        "block_out_channels": [48, 96], "layers_per_block": 1, "norm_num_groups": 16,
        "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
        "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"],
        "cross_attention_dim": TEXT_DIM, "attention_head_dim": 8,
        "act_fn": "silu", "flip_sin_to_cos": True, "freq_shift": 0,
    }


def text_encoder_config() -> dict:
    """CLIPTextModel, 3.3M parameters (3.2M of them the token embeddings of CLIP's vocabulary)."""
    return {
        "architectures": ["CLIPTextModel"], "model_type": "clip_text_model",
        "vocab_size": 49408, "max_position_embeddings": 77,
        "hidden_size": TEXT_DIM, "intermediate_size": 4 * TEXT_DIM, "num_attention_heads": 4,
        "num_hidden_layers": 2, "hidden_act": "quick_gelu", "projection_dim": TEXT_DIM,
        "bos_token_id": 49406, "eos_token_id": 49407, "pad_token_id": 49407,
    }


def scheduler_config() -> dict:
    """SD 1.x's noise schedule (eps prediction, scaled_linear betas 0.00085..0.012, 1000 steps)."""
    return {
        "_class_name": "EulerDiscreteScheduler", "num_train_timesteps": 1000,
        "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
        "prediction_type": "epsilon", "timestep_spacing": "leading", "steps_offset": 1,
    }
