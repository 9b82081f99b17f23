"""Environments written here as ``gymnasium.Env``: bandit, random walk, tic-tac-toe, connect-four, dice race, Kuhn poker."""
