"""UniPC (Zhao et al. 2023, arXiv:2302.04867), the unified predictor-corrector, as ComfyUI runs it.

ComfyUI solves in the VP scale x_vp = x / sqrt(1 + sigma^2) with the model as a data predictor,
multistep, order min(3, steps - 1), lower order on the final steps, no corrector on the last.
"""

from __future__ import annotations

import torch

from .sampler_steps import report, setup


def _vp_log_alpha(sigma):
    return 0.5 * torch.log(1 / (sigma * sigma + 1))


def _vp_std(sigma):
    return torch.sqrt(1.0 - torch.exp(2.0 * _vp_log_alpha(sigma)))


def _vp_lambda(sigma):
    log_alpha = _vp_log_alpha(sigma)
    return log_alpha - 0.5 * torch.log(1.0 - torch.exp(2.0 * log_alpha))


def _unipc_update(data_fn, x, preds, times, t, order, variant, use_corrector):
    """One UniPC step from times[-1] to t: the B(h) predictor (UniP) and, if asked, the corrector (UniC)."""
    dims = (slice(None),) + (None,) * (x.ndim - 1)
    t_prev_0, m0 = times[-1], preds[-1]
    lambda_prev_0, lambda_t = _vp_lambda(t_prev_0), _vp_lambda(t)
    sigma_prev_0, sigma_t = _vp_std(t_prev_0), _vp_std(t)
    alpha_t = torch.exp(_vp_log_alpha(t))
    h = lambda_t - lambda_prev_0

    rks, d1s = [], []
    for i in range(1, order):
        rk = ((_vp_lambda(times[-(i + 1)]) - lambda_prev_0) / h)[0]
        rks.append(rk)
        d1s.append((preds[-(i + 1)] - m0) / rk)
    rks.append(1.0)
    rks = torch.tensor(rks, device=x.device)

    hh = -h[0]  # data prediction integrates in -lambda
    h_phi_1 = torch.expm1(hh)
    h_phi_k = h_phi_1 / hh - 1
    b_h = hh if variant == "bh1" else torch.expm1(hh)
    rows, b, factorial = [], [], 1
    for i in range(1, order + 1):
        rows.append(torch.pow(rks, i - 1))
        b.append(h_phi_k * factorial / b_h)
        factorial *= i + 1
        h_phi_k = h_phi_k / hh - 1 / factorial
    R = torch.stack(rows)
    b = torch.tensor(b, device=x.device)

    d1s = torch.stack(d1s, dim=1) if d1s else None
    x_t_ = (sigma_t / sigma_prev_0)[dims] * x - (alpha_t * h_phi_1)[dims] * m0
    if d1s is not None:
        rhos_p = torch.tensor([0.5], device=x.device) if order == 2 else torch.linalg.solve(R[:-1, :-1], b[:-1])
        x_t = x_t_ - (alpha_t * b_h)[dims] * torch.einsum("k,bk...->b...", rhos_p, d1s)
    else:
        x_t = x_t_
    if not use_corrector:
        return x_t, None
    rhos_c = torch.tensor([0.5], device=x.device) if order == 1 else torch.linalg.solve(R, b)
    model_t = data_fn(x_t, t)
    corr = torch.einsum("k,bk...->b...", rhos_c[:-1], d1s) if d1s is not None else 0
    x_t = x_t_ - (alpha_t * b_h)[dims] * (corr + rhos_c[-1] * (model_t - m0))
    return x_t, model_t


@torch.no_grad()
def sample_uni_pc(model, x, sigmas, extra_args=None, callback=None, disable=None, variant="bh1"):
    """UniPC multistep predictor-corrector (Zhao et al. 2023), B(h) = h ("bh1") or e^h - 1 ("bh2")."""
    if variant not in {"bh1", "bh2"}:
        raise ValueError("variant must be 'bh1' or 'bh2'")
    args, _, _ = setup(x, extra_args)
    timesteps = sigmas.clone()
    if timesteps[-1] == 0:
        timesteps[-1] = 0.001  # UniPC needs a finite log-SNR at the end
    dims = (slice(None),) + (None,) * (x.ndim - 1)

    def data_fn(x_vp, t):
        sigma = t[dims]
        x_k = x_vp * (sigma ** 2 + 1.0) ** 0.5
        eps = (x_k - model(x_k, t, **args)) / sigma
        return (x_vp - _vp_std(t)[dims] * eps) / torch.exp(_vp_log_alpha(t))[dims]

    def report_step(x_vp, i, t, denoised):
        report(callback, x_vp * (t[dims] ** 2 + 1.0) ** 0.5, i, sigmas[min(i, len(sigmas) - 1)], denoised)

    x = x / torch.sqrt(1.0 + timesteps[0] ** 2.0)
    steps = len(timesteps) - 1
    order = min(3, len(timesteps) - 2)
    batch = x.shape[0]
    for step_index in range(steps):
        if step_index == 0:
            vec_t = timesteps[0].expand(batch)
            preds, times = [data_fn(x, vec_t)], [vec_t]
        elif step_index < order:  # warm-up with increasing order
            vec_t = timesteps[step_index].expand(batch)
            x, model_x = _unipc_update(data_fn, x, preds, times, vec_t, step_index, variant, True)
            preds.append(data_fn(x, vec_t) if model_x is None else model_x)
            times.append(vec_t)
        else:
            last = step_index + (2 if step_index == steps - 1 else 1)
            for step in range(step_index, last):
                vec_t = timesteps[step].expand(batch)
                step_order = min(order, steps + 1 - step)
                x, model_x = _unipc_update(data_fn, x, preds, times, vec_t, step_order, variant, step != steps)
                times, preds = times[1:] + [vec_t], preds[1:] + [preds[-1]]
                if step < steps:
                    preds[-1] = data_fn(x, vec_t) if model_x is None else model_x
        report_step(x, step_index, vec_t, preds[-1])
    return x / torch.exp(_vp_log_alpha(timesteps[-1]))


@torch.no_grad()
def sample_uni_pc_bh2(model, x, sigmas, extra_args=None, callback=None, disable=None):
    """UniPC with B(h) = e^h - 1."""
    return sample_uni_pc(model, x, sigmas, extra_args, callback, disable, variant="bh2")
