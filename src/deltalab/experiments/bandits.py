"""Chapter P: exploration on the k-armed bandit (claim epsilon-greedy)."""

from __future__ import annotations

import numpy as np

from deltalab.lab import Bar, Context, experiment
from deltalab.lab.plot import plt
from deltalab.rl.bandit import run_epsilon_greedy
from deltalab.rl.envs.bandit import KArmedBandit
from deltalab.rl.schedules import inverse_schedule


@experiment(
    chapter="P",
    title="A decaying ε beats pure greed on the 10-armed bandit",
    claim="exploring with a decaying ε beats pure greed",
)
def epsilon_greedy(ctx: Context):
    """`deltalab run epsilon-greedy` — claim epsilon-greedy. Expected: the decaying-ε agent
    (ε_t = 1 / (1 + t/20)) has lower total regret than greedy (ε = 0) on 10-armed Gaussian bandits,
    averaged over problems (measured ~0.5× greedy's). Quick profile: ~1 s."""
    problems, steps = ctx.pick(quick=1000, full=2000), ctx.pick(quick=1000, full=2000)
    means = np.stack([KArmedBandit(10, seed=ctx.seed * 100_000 + i).means for i in range(problems)])  # (B, K)
    schedules = {
        "greedy (ε=0)": lambda t: 0.0,
        "fixed ε=0.1": lambda t: 0.1,
        "decaying ε=1/(1+t/20)": lambda t: inverse_schedule(1.0, t, scale=20.0),
    }
    curves = {}
    for i, (name, eps) in enumerate(schedules.items()):
        curves[name] = run_epsilon_greedy(means, steps, eps, np.random.default_rng(ctx.seed + 17 * i))
        ctx.log(f"{name}: total regret {curves[name][0].sum():.1f}")
    reg = {k: float(v[0].sum()) for k, v in curves.items()}
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for name, (r, opt) in curves.items():
        axes[0].plot(np.cumsum(r), label=name)
        axes[1].plot(opt, label=name)
        ctx.series(f"regret {name}", np.cumsum(r)[::10].round(3).tolist())
    axes[0].set(xlabel="step", ylabel="cumulative regret", title=f"{problems} bandit problems")
    axes[1].set(xlabel="step", ylabel="fraction optimal arm")
    axes[0].legend()
    ctx.savefig(fig)
    metrics = {
        "regret_greedy": reg["greedy (ε=0)"],
        "regret_fixed_eps": reg["fixed ε=0.1"],
        "regret_decaying_eps": reg["decaying ε=1/(1+t/20)"],
    }
    metrics["regret_ratio_decaying_over_greedy"] = metrics["regret_decaying_eps"] / metrics["regret_greedy"]
    return ctx.result(
        metrics,
        [Bar("regret_ratio_decaying_over_greedy", "<", 1.0)],
        bar="decaying-ε total regret < greedy's (ratio < 1) on 10-armed bandits",
        config={"problems": problems, "steps": steps, "k": 10, "schedules": list(schedules)},
    )
