"""Reinforcement learning: agents that learn from an environment (dltrain/data/environment.py) instead of a
dataset. DQN (dqn.py) with its replay buffer (replay.py) and its learning-curve plot (returns.py)."""
