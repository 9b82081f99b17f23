"""Chapter P: search in games — minimax with α–β, UCT MCTS, AlphaGo-style guided search, AlphaZero."""

from __future__ import annotations

import time

from deltalab.lab import Bar, Context, experiment
from deltalab.lab.plot import plt
from deltalab.rl.envs.tictactoe import TicTacToe
from deltalab.rl.minimax import Counter, alphabeta, minimax


@experiment(
    "minimax",
    chapter="P",
    title="Minimax with α–β pruning solves tic-tac-toe visiting far fewer nodes",
    claim="minimax with α–β pruning solves tic-tac-toe (value 0) visiting far fewer nodes",
)
def minimax_tictactoe(ctx: Context):
    """`deltalab run minimax` — claim minimax. Expected: both searches return value 0 from the empty
    board; α–β visits ≤ 10% of plain minimax's nodes (measured 18,297 / 549,946 = 3.3%).
    Quick profile: ~2 s."""
    game = TicTacToe()
    s0 = game.initial_state()
    c_plain, c_ab = Counter(), Counter()
    t = time.process_time()
    v_plain = minimax(game, s0, c_plain)
    t_plain = time.process_time() - t
    t = time.process_time()
    v_ab = alphabeta(game, s0, counter=c_ab)
    t_ab = time.process_time() - t
    ctx.log(f"minimax {c_plain.nodes} nodes, α–β {c_ab.nodes} nodes")
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.bar(["minimax", "α–β"], [c_plain.nodes, c_ab.nodes])
    ax.set(yscale="log", ylabel="nodes visited", title="tic-tac-toe from the empty board")
    ctx.savefig(fig)
    metrics = {
        "value_minimax": v_plain + 0.0,
        "value_alphabeta": v_ab + 0.0,
        "nodes_minimax": c_plain.nodes,
        "nodes_alphabeta": c_ab.nodes,
        "node_fraction_alphabeta": c_ab.nodes / c_plain.nodes,
        "cpu_s_minimax": t_plain,
        "cpu_s_alphabeta": t_ab,
    }
    return ctx.result(
        metrics,
        [
            Bar("value_minimax", "==", 0.0),
            Bar("value_alphabeta", "==", 0.0),
            Bar("node_fraction_alphabeta", "<=", 0.1),
        ],
        bar="value 0 from the empty board; α–β visits ≤ 10% of plain minimax's nodes",
        config={"move_order": "cells 0..8"},
    )
