"""Reinforcement learning and games: environments (``rl.envs``), agents, buffers and schedules."""
