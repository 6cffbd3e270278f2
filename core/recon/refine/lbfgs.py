"""A small L-BFGS (two-loop recursion, backtracking Armijo line search) on torch tensors.

torch.optim would import torch._dynamo (seconds per process) and scipy's L-BFGS-B spends more
time in its bound-handling Fortran than our energy costs; the fit's last stage needs neither.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def lbfgs(
    fun: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    x: torch.Tensor,
    iterations: int,
    history: int = 10,
) -> torch.Tensor:
    """Minimise `fun(x) -> (value, gradient)` from `x` for at most `iterations` steps."""
    f, g = fun(x)
    s_list: list[torch.Tensor] = []
    y_list: list[torch.Tensor] = []
    for _ in range(iterations):
        q = g.clone()
        alphas = []
        for s, y in zip(reversed(s_list), reversed(y_list), strict=True):
            a = (s @ q) / (y @ s)
            alphas.append(a)
            q -= a * y
        if s_list:
            q *= (s_list[-1] @ y_list[-1]) / (y_list[-1] @ y_list[-1])
        else:
            q *= 1.0 / max(float(g.abs().max()), 1.0)
        for (s, y), a in zip(zip(s_list, y_list, strict=True), reversed(alphas), strict=True):
            b = (y @ q) / (y @ s)
            q += s * (a - b)
        d = -q
        slope = float(g @ d)
        if slope >= 0:  # not a descent direction: restart from the gradient
            s_list.clear()
            y_list.clear()
            d, slope = -g, -float(g @ g)
        step = 1.0
        for _ in range(12):
            x_new = x + step * d
            f_new, g_new = fun(x_new)
            if float(f_new) <= float(f) + 1e-4 * step * slope:
                break
            step *= 0.3
        else:
            return x
        s, y = x_new - x, g_new - g
        if float(s @ y) > 1e-10 * float(s @ s):  # curvature seen along the step
            s_list.append(s)
            y_list.append(y)
            if len(s_list) > history:
                s_list.pop(0), y_list.pop(0)
        if float(f) - float(f_new) < 1e-9 * max(abs(float(f)), 1.0):
            return x_new
        x, f, g = x_new, f_new, g_new
    return x
