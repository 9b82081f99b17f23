"""Backpropagation through convolution and pooling, written out by hand.

LeCun et al., "Gradient-Based Learning Applied to Document Recognition" (Proc. IEEE 1998); the
variance argument as in He et al., "Delving Deep into Rectifiers" (arXiv:1502.01852).

For Y = X ⋆ W (cross-correlation, stride 1, no padding) with upstream gradient G = ∂L/∂Y:

    ∂L/∂W[o, i] = Σ_b X[b, i] ⋆ G[b, o]           (the input cross-correlated with dY)
    ∂L/∂X[b, i] = Σ_o G[b, o] ∗ W[o, i]           (full convolution: dY with the flipped kernel)

Max-pooling routes each window's gradient to its arg-max only; average pooling spreads it as
G/(K_h·K_w) over the window. Each entry of ∂L/∂W sums m = B·H_out·W_out products x·g, so for
independent zero-mean x and g: Var(dW) = m·σ_x²·σ_g².

Shapes: B batch, C channels (Ci in, Co out), H×W spatial, K kernel.

Departures: stride 1 and no padding for the weight-gradient correlation (the general case is
``torch.nn.grad.conv2d_weight``); pooling windows do not overlap (stride = kernel size).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def conv2d_weight_grad(x: torch.Tensor, grad_output: torch.Tensor) -> torch.Tensor:
    """∂L/∂W of ``F.conv2d(x, W)`` (stride 1, no padding): the input cross-correlated with dY.

    x: (B, Ci, H, W); grad_output: (B, Co, H−K+1, W−K+1) → (Co, Ci, K, K).
    """
    if x.dim() != 4 or grad_output.dim() != 4 or len(x) != len(grad_output):
        raise ValueError(
            f"need x (B, Ci, H, W) and grad_output (B, Co, Ho, Wo), got {tuple(x.shape)}, "
            f"{tuple(grad_output.shape)}"
        )
    # treat the batch as the channel being summed over: (Ci, B, H, W) ⋆ (Co, B, Ho, Wo)
    gw = F.conv2d(x.transpose(0, 1), grad_output.transpose(0, 1))  # (Ci, Co, K, K)
    return gw.transpose(0, 1)


def conv2d_input_grad(grad_output: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """∂L/∂X of ``F.conv2d(x, W)`` (stride 1, no padding): full convolution of dY with the flipped kernel.

    grad_output: (B, Co, Ho, Wo); weight: (Co, Ci, K, K) → (B, Ci, Ho+K−1, Wo+K−1).
    """
    k = weight.shape[-1]
    flipped = weight.flip(-1, -2).transpose(0, 1)  # (Ci, Co, K, K)
    return F.conv2d(grad_output, flipped, padding=k - 1)


def maxpool2d_grad(x: torch.Tensor, grad_output: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Max-pool backward: each window's gradient goes to the (first) arg-max of that window only.

    x: (B, C, H, W) with H, W divisible by K; grad_output: (B, C, H/K, W/K) → (B, C, H, W).
    """
    b, c, h, w = x.shape
    k = kernel_size
    if h % k or w % k:
        raise ValueError(f"H and W must be divisible by kernel_size={k}, got {(h, w)}")
    win = x.reshape(b, c, h // k, k, w // k, k).permute(0, 1, 2, 4, 3, 5).reshape(b, c, h // k, w // k, k * k)
    onehot = F.one_hot(win.argmax(-1), k * k).to(x.dtype)  # (B, C, H/K, W/K, K²)
    g = onehot * grad_output.unsqueeze(-1)
    return g.reshape(b, c, h // k, w // k, k, k).permute(0, 1, 2, 4, 3, 5).reshape(b, c, h, w)


def avgpool2d_grad(grad_output: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Average-pool backward: each window's gradient spread evenly, G/K², over its K×K inputs.

    grad_output: (B, C, Ho, Wo) → (B, C, Ho·K, Wo·K).
    """
    k = kernel_size
    return grad_output.repeat_interleave(k, dim=-2).repeat_interleave(k, dim=-1) / (k * k)


def weight_grad_variance(batch: int, out_h: int, out_w: int, var_x: float, var_g: float) -> float:
    """Var(∂L/∂W) = m·σ_x²·σ_g² with m = B·H_out·W_out terms per entry (independent zero-mean x, g)."""
    return batch * out_h * out_w * var_x * var_g
