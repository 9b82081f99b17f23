"""RL benchmarks: AlphaZero's training time to perfect tic-tac-toe, DQN's steps to solve CartPole-v1.

Both measure the candidate alone (baseline null): seconds (AlphaZero) or environment steps (DQN)
to reach the target, with the cap reported when it is not reached (``reached: 0``).
"""

from __future__ import annotations

import time

import torch

from deltalab.bench.core import BenchResult, benchmark
from deltalab.rl.alphazero import (
    AlphaZeroConfig,
    losses_vs_minimax,
    net_evaluator,
    search_player,
    train_alphazero,
)
from deltalab.rl.dqn import DQNConfig, train_dqn
from deltalab.rl.envs.tictactoe import TicTacToe
from deltalab.rl.minimax import Solver


@benchmark(goal=180.0, better="lower", seeded=True)
def alphazero_ttt(
    iterations: int = 40, games_per_iter: int = 40, eval_simulations: int = 16, seed: int = 0
) -> BenchResult:
    """Seconds of AlphaZero self-play training until the net + PUCT never loses to exact minimax as X or O
    (over every minimax tie-break); checked after each iteration, check time excluded."""
    torch.set_num_threads(1)
    game = TicTacToe()
    solver = Solver(game)
    check_s = [0.0]

    def perfect(net: torch.nn.Module) -> bool:
        t = time.perf_counter()
        player = search_player(game, net_evaluator(game, net), eval_simulations)
        lost = sum(losses_vs_minimax(game, player, solver, side)[1] for side in (1, -1))
        check_s[0] += time.perf_counter() - t
        return lost == 0

    cfg = AlphaZeroConfig(iterations=iterations, games_per_iter=games_per_iter)
    t0 = time.perf_counter()
    net, log = train_alphazero(game, cfg, seed=seed, stop=perfect)
    seconds = time.perf_counter() - t0 - check_s[0]
    done = len(log["policy_loss"])
    reached = int(perfect(net))
    return BenchResult("alphazero-ttt", seconds, None, "s", 1, extra={"iterations": done, "reached": reached})


@benchmark(goal=30_000, better="lower", seeded=True)
def dqn_cartpole(total_steps: int = 50_000, seed: int = 0) -> BenchResult:
    """Environment steps until a 10-episode greedy evaluation of DQN on CartPole-v1 reaches 475 (cap if never)."""
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    _, log = train_dqn("CartPole-v1", DQNConfig(total_steps=total_steps, target_return=475.0), seed=seed)
    seconds = time.perf_counter() - t0
    solved = bool(log["solved_at"])
    steps = log["solved_at"][0] if solved else total_steps
    return BenchResult(
        "dqn-cartpole", float(steps), None, "steps", 1, extra={"seconds": seconds, "reached": int(solved)}
    )
