"""Experience replay (Lin 1992; Mnih et al. 2015): the last `capacity` transitions, sampled uniformly, so that
updates see decorrelated experience instead of the last few steps of one episode."""

from __future__ import annotations

import torch


class ReplayBuffer:
    """A ring of preallocated tensors. Sampling draws from torch's global generator, which the run seeds and
    checkpoints; the whole buffer goes into checkpoints too (`state_dict`), so a resumed run learns from the same
    experience."""

    def __init__(self, capacity: int, observation_shape: tuple[int, ...]) -> None:
        self.capacity = capacity
        self.observations = torch.zeros(capacity, *observation_shape)
        self.next_observations = torch.zeros(capacity, *observation_shape)
        self.actions = torch.zeros(capacity, dtype=torch.int64)
        self.rewards = torch.zeros(capacity)
        self.terminated = torch.zeros(capacity)
        self.size = self.position = 0

    def add(self, observations: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor,
            next_observations: torch.Tensor, terminated: torch.Tensor) -> None:
        """One transition per environment; `terminated` (not a time limit's truncation) ends the bootstrapping."""
        index = (self.position + torch.arange(len(actions))) % self.capacity
        self.observations[index] = observations
        self.actions[index] = actions
        self.rewards[index] = rewards
        self.next_observations[index] = next_observations
        self.terminated[index] = terminated
        self.position = int((self.position + len(actions)) % self.capacity)
        self.size = min(self.size + len(actions), self.capacity)

    def sample(self, count: int, device: torch.device) -> tuple[torch.Tensor, ...]:
        index = torch.randint(self.size, (count,))
        return tuple(part[index].to(device) for part in (self.observations, self.actions, self.rewards,
                                                         self.next_observations, self.terminated))

    def state_dict(self) -> dict:
        filled = slice(0, self.size)
        return {"observations": self.observations[filled].clone(), "actions": self.actions[filled].clone(),
                "rewards": self.rewards[filled].clone(), "next_observations": self.next_observations[filled].clone(),
                "terminated": self.terminated[filled].clone(), "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        size = len(state["actions"])
        for name in ("observations", "actions", "rewards", "next_observations", "terminated"):
            getattr(self, name)[:size] = state[name]
        self.size, self.position = size, int(state["position"])
