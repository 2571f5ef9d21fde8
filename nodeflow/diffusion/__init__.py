"""Stable Diffusion building blocks on torch and diffusers: schedules, samplers, model loading.

Nothing in the engine imports this package; the built-in SD node pack imports it lazily,
so `import nodeflow` and `nodeflow nodes` stay free of torch.
"""
