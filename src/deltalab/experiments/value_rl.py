"""Chapter P: value-based RL — tabular Q-learning, TD(λ) and TD-Gammon-style self-play, DQN."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from deltalab.lab import Bar, Context, experiment
from deltalab.lab.plot import plt
from deltalab.rl.envs.dice_race import (
    DiceRace,
    greedy_hold_policy,
    hold_at_policy,
    random_policy,
    solve_optimal,
    win_probability,
)
from deltalab.rl.envs.random_walk import RandomWalk
from deltalab.rl.q_learning import (
    QLearningConfig,
    greedy_policy,
    q_learning,
    success_probability,
    value_iteration,
)
from deltalab.rl.td_gammon import SelfPlayConfig, train_self_play, value_table
from deltalab.rl.td_lambda import sample_walks, td_lambda_tabular


@experiment(
    "q-learning",
    chapter="P",
    title="Tabular Q-learning finds the optimal policy on slippery FrozenLake",
    claim="tabular Q-learning with ε-greedy finds the optimal policy",
)
def q_learning_frozenlake(ctx: Context):
    """`deltalab run q-learning` — claim q-learning. Expected: the greedy policy of Q-learning
    (5000 episodes, α 0.1→0 linearly, γ=0.99, ε 1→0.05) succeeds within 5 points of value
    iteration's policy, success computed exactly over FrozenLake-v1's 100-step limit (value
    iteration: 0.740). Measured at seeds 0–159: gap 0.0–1.2 points. A constant α = 0.1 failed at 4
    of seeds 0–47 (gap 19.4 / 8.8 / 14.8 / 13.9 points at seeds 16 / 24 / 37 / 40): the table kept
    moving with every slippery transition, and the greedy policy read at the end was wherever the
    last updates left near-tied actions. Quick profile: ~3 s."""
    cfg = QLearningConfig(episodes=ctx.pick(quick=5000, full=20000))
    env = gym.make("FrozenLake-v1", is_slippery=True)
    p, n_s, n_a = env.unwrapped.P, env.observation_space.n, env.action_space.n
    horizon = env.spec.max_episode_steps
    q_star = value_iteration(p, n_s, n_a, cfg.gamma)
    success_vi = success_probability(p, greedy_policy(q_star), 0, horizon)
    q, returns = q_learning(env, cfg, seed=ctx.seed)
    success_q = success_probability(p, greedy_policy(q), 0, horizon)
    ctx.log(f"success: Q-learning {success_q:.3f}, value iteration {success_vi:.3f}")
    window = 200
    smooth = np.convolve(returns, np.ones(window) / window, mode="valid")
    ctx.series("training_success_moving_avg", smooth[::25].round(4).tolist())
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(smooth, label=f"Q-learning, ε-greedy (moving avg {window})")
    ax.axhline(success_vi, color="k", ls="--", label="value iteration policy (exact)")
    ax.axhline(success_q, color="C1", ls=":", label="Q-learning greedy policy (exact)")
    ax.set(xlabel="episode", ylabel="success rate", title="FrozenLake-v1 (slippery)")
    ax.legend(fontsize=8)
    ctx.savefig(fig)
    metrics = {
        "success_q_learning": success_q,
        "success_value_iteration": success_vi,
        "success_gap_points": 100.0 * (success_vi - success_q),
        "policy_agreement_states": float(np.mean(greedy_policy(q) == greedy_policy(q_star))),
    }
    return ctx.result(
        metrics,
        [Bar("success_gap_points", "<=", 5.0)],
        bar="Q-learning's greedy policy succeeds within 5 points of value iteration's (exact, 100-step limit)",
        config={**vars(cfg), "env": "FrozenLake-v1", "is_slippery": True, "horizon": horizon},
    )


@experiment(
    chapter="P",
    title="TD(λ): intermediate λ is best; a TD-Gammon-style self-play net learns Pig",
    claim="TD(λ) with eligibility traces learns values; intermediate λ is best; a TD-Gammon-style "
    "self-play value net learns a dice game",
)
def td_lambda(ctx: Context):
    """`deltalab run td-lambda` — claim td-lambda. Expected: on the 19-state random walk the best
    RMS error (first 10 episodes, 100 runs, best α per λ) is lower at some 0 < λ < 1 than at both
    λ = 0 and λ = 1 (measured best λ = 0.8: RMS 0.266 vs 0.347 at λ=0, 0.496 at λ=1).

    Dice game: standard Pig to 100 with a d6 (Neller & Presser 2004), where skill matters: the
    exactly optimal policy (value iteration) holds in 45% of the positions where holding is legal,
    "always roll" wins only 18.9% against a random player, a hold-at-20 rule 90.4%. Every win rate
    is computed exactly by policy evaluation of the two-player chain (no sampled games). Optimal play
    wins 88.75% against random (both seats averaged; 90.1% first, 87.4% second), < 92%, so
    CLAIMS.md's bar is that the self-play net comes within 2 points of it (>= 86.75%). The net (4
    inputs, 32 sigmoid hidden units) learns by TD(λ) self-play, 256 games side by side for 10000
    moves each (~85000 games) with exploring starts (random banked scores) and α decayed linearly to
    0; λ = 0, α = 10 are the best of λ ∈ {0, 0.3, 0.7, 0.9} × α ∈ {5, 10, 20} (worst of seeds 0-2:
    89.1% against random at λ=0, 87.9% at 0.3, 81.0% at 0.7, 74.9% at 0.9; α = 20 collapses to
    "always roll" at most seeds, and so does α = 10 with λ ≥ 0.7). Measured at seeds 0-7: 89.2 /
    90.2 / 89.1 / 88.8 / 89.7 / 89.8 / 89.8 / 89.5% against random (gap -0.50 / -1.45 / -0.35 /
    -0.09 / -0.93 / -1.05 / -1.02 / -0.76 points: the net's greedy policy, a best response to
    nobody, beats minimax-optimal play against this opponent), 42.3-47.4% against optimal play,
    hold / roll choice as optimal's in 81-83% of positions; the untrained net wins 7.0 / 5.9 / 18.9 /
    51.2 / 18.9 / 18.9 / 18.9 / 6.9%. The random-walk part is unchanged. Quick profile: ~19 s per
    seed on one thread (load average ~3 on the 2-core machine; the self-play training is ~7 s of it);
    full profile (30000 moves per game slot, 300 walk runs): ~40 s."""
    env = RandomWalk(19)
    runs = ctx.pick(quick=100, full=300)
    walks = sample_walks(env, runs, 10, seed=ctx.seed)
    lams = [0.0, 0.4, 0.8, 0.9, 0.95, 0.975, 0.99, 1.0]
    alphas = np.array([0.01, 0.02, 0.04, 0.07, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0])
    curves = {}
    for lam in lams:
        rms = td_lambda_tabular(walks, 19, lam, alphas, env.true_values()).mean(axis=(1, 2))  # (A,)
        curves[lam] = np.where(np.isfinite(rms), rms, np.nan)
    best = {lam: float(np.nanmin(c)) for lam, c in curves.items()}
    inner = {lam: v for lam, v in best.items() if 0.0 < lam < 1.0}
    lam_star = min(inner, key=inner.get)
    ctx.log(f"best RMS per λ: {best}")

    game = DiceRace(goal=100)
    v_opt, hold_opt = solve_optimal(game)
    rnd = random_policy(game)
    opt_first, opt_second = win_probability(game, hold_opt, rnd)
    opt_vs_random = 0.5 * (opt_first + opt_second)
    cfg = SelfPlayConfig(steps=ctx.pick(quick=10_000, full=30_000))
    # exact win rates (first seat, second seat) against random along training, for the curve
    checkpoints = {0, 100, 250, 500} | set(range(0, cfg.steps + 1, cfg.steps // 5))
    curve: dict[int, tuple[float, float]] = {}
    games_at: dict[int, int] = {}
    nets_hold: dict[int, np.ndarray] = {}

    def evaluate(steps_done: int, games_done: int, net) -> None:
        if steps_done in checkpoints:
            nets_hold[steps_done] = greedy_hold_policy(game, value_table(game, net))
            curve[steps_done] = win_probability(game, nets_hold[steps_done], rnd)
            games_at[steps_done] = games_done

    train_self_play(game, cfg, seed=ctx.seed, on_step=evaluate)
    hold_net = nets_hold[cfg.steps]
    win_first, win_second = curve[cfg.steps]
    win_rate = 0.5 * (win_first + win_second)
    vs_opt = float(np.mean(win_probability(game, hold_net, hold_opt)))
    mine, _, turn = np.meshgrid(*(np.arange(game.goal),) * 3, indexing="ij")
    choice = (mine + turn < game.goal) & (turn > 0)  # positions where holding is legal
    disagree = float(np.mean(hold_net[choice] != hold_opt[choice]))
    hold20 = float(np.mean(win_probability(game, hold_at_policy(game, 20), rnd)))
    always_roll = float(np.mean(win_probability(game, np.zeros_like(hold_opt), rnd)))
    ctx.log(
        f"exact win rate vs random: net {win_rate:.4f} ({win_first:.4f} first, {win_second:.4f} second), "
        f"optimal {opt_vs_random:.4f}, hold-at-20 {hold20:.4f}, untrained net {np.mean(curve[0]):.4f}; "
        f"net vs optimal {vs_opt:.4f}; policies differ in {disagree:.1%} of positions"
    )

    fig, axes = plt.subplots(1, 3, figsize=(15, 3.5))
    for lam, c in curves.items():
        axes[0].plot(alphas, c, marker=".", label=f"λ={lam}")
        ctx.series(f"rms_lambda_{lam}", [None if not np.isfinite(x) else round(float(x), 5) for x in c])
    axes[0].set(
        xlabel="α", ylabel="RMS error (10 episodes, avg)", ylim=(0.2, 0.6), title="19-state random walk"
    )
    axes[0].legend(fontsize=7)
    axes[1].plot(lams, [best[lam] for lam in lams], marker="o")
    axes[1].set(xlabel="λ", ylabel="best RMS error over α", title="intermediate λ is best")
    xs = sorted(curve)
    games_x = [games_at[x] for x in xs]
    ctx.series("selfplay_games", games_x)
    rates = [0.5 * (curve[x][0] + curve[x][1]) for x in xs]
    ctx.series("win_rate_vs_random_curve", [round(r, 5) for r in rates])
    axes[2].plot(games_x, rates, marker="o", label="self-play TD(λ) net (exact)")
    axes[2].axhline(opt_vs_random, color="k", ls="--", label="optimal policy (value iteration)")
    axes[2].axhline(opt_vs_random - 0.02, color="k", ls=":", label="bar: optimal − 2 points")
    axes[2].axhline(hold20, color="C2", ls="-.", label="hold-at-20 rule")
    axes[2].set_xscale("symlog", linthresh=100)
    axes[2].set_xlim(-10, 1.3 * games_x[-1])
    axes[2].set(
        xlabel="self-play games finished (0 = untrained net)",
        ylabel="win rate vs random (both seats)",
        ylim=(0.0, 1.0),
        title=f"Pig to {game.goal} (d{game.die})",
    )
    axes[2].legend(fontsize=7, loc="center left")
    ctx.savefig(fig)
    gap = 100.0 * (opt_vs_random - win_rate)
    metrics = {
        "rms_td0": best[0.0],
        "rms_mc": best[1.0],
        "rms_best_intermediate": inner[lam_star],
        "best_lambda": lam_star,
        "rms_ratio_best_over_td0": inner[lam_star] / best[0.0],
        "rms_ratio_best_over_mc": inner[lam_star] / best[1.0],
        "win_rate_first": win_first,
        "win_rate_second": win_second,
        "win_rate_vs_random": win_rate,
        "optimal_win_rate_vs_random": opt_vs_random,
        "gap_to_optimal_points": gap,
        "win_rate_vs_optimal": vs_opt,
        "untrained_net_win_rate_vs_random": 0.5 * sum(curve[0]),
        "policy_disagreement": disagree,
        "optimal_hold_fraction": float(np.mean(hold_opt[choice])),
        "hold_at_20_win_rate_vs_random": hold20,
        "always_roll_win_rate_vs_random": always_roll,
        "selfplay_games": float(games_at[cfg.steps]),
        "optimal_first_player_value": float(v_opt[0, 0, 0]),
    }
    # CLAIMS.md: ≥ 90% against random, or, where even optimal play wins < 92%, within 2 points of it.
    if opt_vs_random < 0.92:
        game_bar, game_text = Bar("gap_to_optimal_points", "<=", 2.0), "within 2 points of optimal play's"
    else:
        game_bar, game_text = Bar("win_rate_vs_random", ">=", 0.9), "≥ 90%"
    return ctx.result(
        metrics,
        [
            Bar("rms_ratio_best_over_td0", "<", 1.0),
            Bar("rms_ratio_best_over_mc", "<", 1.0),
            game_bar,
        ],
        bar="best RMS at an intermediate λ < at λ=0 and at λ=1; self-play net's win rate against random "
        f"(exact, both seats) {game_text}",
        config={
            "runs": runs,
            "episodes": 10,
            "lambdas": lams,
            "alphas": alphas.tolist(),
            "td_gammon": vars(cfg),
            "dice_goal": game.goal,
            "dice_die": game.die,
            "curve_checkpoints_steps": xs,
        },
    )


@experiment(
    chapter="P",
    title="DQN (replay, target net, Huber loss) balances the pole",
    claim="Q-learning with a network, replay and a target net balances the pole",
)
def dqn(ctx: Context):
    """`deltalab run dqn` — claim dqn. Expected: Double DQN with rl-baselines3-zoo's CartPole recipe plus
    3-step returns, Polyak target updates and a linearly decaying learning rate (see ``DQNConfig``), within
    30k environment steps (quick: stopping once a 20-episode greedy evaluation averages ≥ 450; full: 500
    in every episode; keeping the best-evaluated net), has a greedy policy whose mean return over 20 fresh
    episodes is ≥ 195 (quick); full (50k steps): ≥ 475 for each of 3 seeds. Measured (quick) at seeds 0-27:
    485 / 500 / 500 / 500 / 500 / 500 / 500 / 500 / 500 / 474 / 500 / 500 / 500 / 497 / 482 / 414 / 500 /
    488 / 494 / 479 / 472 / 500 / 500 / 500 / 500 / 500 / 500 / 500 (min 414 at seed 15, which never
    evaluates ≥ 450 and runs the whole 30k), stopped after 6k / 13k / 6k / 17k / 9k / 9k / 7k / 16k / 6k /
    15k / 19k / 6k / 10k / 15k / 7k / 30k / 17k / 17k / 7k / 12k / 4k / 10k / 15k / 15k / 19k / 12k / 7k /
    9k steps; ~18% less CPU than stopping at 500. Previous quick stop rule (500 in every evaluation
    episode): 500 at every seed 0-27 but 499 at seed 9 and 414 at seed 15, stopped after 16k / 13k / 6k /
    18k / 9k / 9k / 7k / 16k / 6k / 22k / 19k / 6k / 10k / 21k / 10k / 30k / 17k / 19k / 18k / 30k / 11k /
    10k / 15k / 15k / 19k / 12k / 8k / 9k steps; a 475 stop saved ~8%, 425 / 400 let the fresh return
    drop to 400 / 376. The recipe before the stabilizers (1-step, hard target, constant lr, 50k buffer, 32
    gradient steps per 128) gave 500 / 500 / 500 / 463.8 / 500 at seeds 0-4 after 23k / 26k / 2k / 2k /
    21k steps, and oscillated after solving (see ``deltalab.rl.dqn``); the old 64-64 plain-DQN recipe
    plateaued at 100-300 on some seeds. Quick profile: CPU per seed is set by how many steps a seed needs,
    ~1.3 s per 1k steps on one thread (measured on a loaded machine: mean over seeds 0-27 17.0 s, was 20.7
    with the 500 stop; seed 0 11.3 s and seed 9 17.0 s in a fresh process, imports included)."""

    from deltalab.rl.dqn import DQNConfig, evaluate, train_dqn

    env_id = "CartPole-v1"
    seeds = ctx.pick(quick=[ctx.seed], full=[ctx.seed, ctx.seed + 1, ctx.seed + 2])
    bar_return = ctx.pick(quick=195.0, full=475.0)
    cfg = DQNConfig(
        total_steps=ctx.pick(quick=30_000, full=50_000), target_return=ctx.pick(quick=450.0, full=500.0)
    )
    finals, steps_used = [], []
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for sd in seeds:
        q, log = train_dqn(env_id, cfg, seed=sd)
        ret = evaluate(env_id, q, 20, seed=sd + 123_456)
        finals.append(float(ret.mean()))
        steps_used.append(log["eval_step"][-1])
        ctx.log(f"seed {sd}: stopped at {steps_used[-1]} steps, eval mean {finals[-1]:.1f}")
        ax.plot(log["eval_step"], log["eval_mean"], marker=".", label=f"seed {sd}")
        ctx.series(f"eval_mean_seed{sd}", list(zip(log["eval_step"], log["eval_mean"])))
    ax.axhline(bar_return, color="k", ls="--", lw=0.8)
    ax.set(
        xlabel="environment steps",
        ylabel=f"greedy eval mean ({cfg.eval_episodes} ep)",
        title="DQN on CartPole-v1",
    )
    ax.legend()
    ctx.savefig(fig)
    metrics = {
        "eval_mean_return": float(np.mean(finals)),
        "eval_min_seed_return": float(np.min(finals)),
        "env_steps": float(np.mean(steps_used)),
        "solved": float(all(f >= 475.0 for f in finals)),
    }
    return ctx.result(
        metrics,
        [Bar("eval_min_seed_return", ">=", bar_return)],
        bar=f"greedy mean return over 20 episodes ≥ {bar_return:g} for every seed ({len(seeds)}) within {cfg.total_steps} steps",
        config={**vars(cfg), "env": env_id, "seeds": seeds},
    )
