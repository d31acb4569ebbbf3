"""A gymnasium environment in the place of a dataset: what a reinforcement-learning task (task=dqn) learns from.

The environment is the data: it knows its observation and action spaces (the model is sized from them, as from an
image size and a number of classes), it serves the training loop its epochs (`steps_per_epoch` environment steps
each) and runs the greedy episodes that stand for the validation and test splits. Episodes are seeded from `seed`,
so the same policy gets the same returns every time: `dltrain eval` reproduces a run's test figures.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from dltrain.errors import UserError, suggestion

# A greedy policy: a batch of observations in, one action per observation out.
Policy = Callable[[torch.Tensor], torch.Tensor]
# Where the evaluation episodes' seeds start, apart from the training environment's own seed.
VAL_SEEDS, TEST_SEEDS = 1_000_000, 2_000_000


def make_environment(env_id: str, render_mode: str | None = None, max_episode_steps: int | None = None):
    """gymnasium.make, with an unknown id or a missing package as one line naming the fix. Frames are rendered
    off-screen: pygame then needs no display (and says nothing of a missing one)."""
    import os

    import gymnasium as gym

    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

    try:
        return gym.make(env_id, render_mode=render_mode, max_episode_steps=max_episode_steps)
    except gym.error.Error as error:
        if isinstance(error, gym.error.DependencyNotInstalled):
            raise UserError(f"env.id={env_id} needs a package that is not installed: {error}",
                            "install it (LunarLander: pip install 'dltrain[rl]'), or choose another env=") from None
        hint = suggestion(env_id, list(gym.registry))
        raise UserError(f"unknown gymnasium environment env.id={env_id} ({error})",
                        f"{hint + ' ' if hint else ''}choose env=cartpole, acrobot, mountaincar or lunarlander, "
                        "or any registered gymnasium id") from None


class EnvironmentDataModule(pl.LightningDataModule):
    """Environment `id` (a gymnasium id) with `num_envs` copies stepped together for training.

    An epoch is `steps_per_epoch` environment steps, cut into the task's iterations (`iteration_steps` vector steps
    each); the validation split is `val_episodes` greedy episodes, the test split `test_episodes`.
    `solved_return` (auto: the environment's own reward_threshold, 475 for CartPole-v1) stops training once the
    validation return reaches it.
    """

    input_kind = "observations"

    def __init__(self, id: str, num_envs: int = 1, steps_per_epoch: int = 5000, val_episodes: int = 10,
                 test_episodes: int = 100, solved_return: float | str | None = "auto",
                 max_episode_steps: int | None = None, action_names: Sequence[str] | None = None,
                 seed: int = 0) -> None:
        super().__init__()
        for name, value in (("num_envs", num_envs), ("steps_per_epoch", steps_per_epoch),
                            ("val_episodes", val_episodes), ("test_episodes", test_episodes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UserError(f"env.{name}={value!r} is invalid", "pass an integer >= 1")
        number = isinstance(solved_return, (int, float)) and not isinstance(solved_return, bool)
        if not (number or solved_return in ("auto", None)):
            raise UserError(f"env.solved_return={solved_return!r} is invalid",
                            "pass the return that counts as solved (e.g. 475), auto for the environment's own, or null")
        self.env_id, self.num_envs, self.steps_per_epoch = str(id), num_envs, steps_per_epoch
        self.val_episodes, self.test_episodes = val_episodes, test_episodes
        self.max_episode_steps, self.seed = max_episode_steps, seed
        self.requested_solved_return, self.requested_action_names = solved_return, action_names
        self.iteration_steps = 1
        self.evaluated_split = "test"
        self.decided: dict[str, tuple[Any, str]] = {}
        self.class_names: list[str] = []
        self.observation_shape: tuple[int, ...] = ()
        self.solved_return: float | None = None
        self.training_env = None

    def setup(self, stage: str | None = None) -> None:
        if self.class_names:
            return
        import gymnasium as gym

        env = make_environment(self.env_id, max_episode_steps=self.max_episode_steps)
        observations, actions = env.observation_space, env.action_space
        if not isinstance(actions, gym.spaces.Discrete):
            raise UserError(f"{self.env_id} has continuous actions ({actions}): DQN picks one of a few discrete "
                            "actions by their values", "choose an environment with discrete actions, e.g. "
                            "env=cartpole, acrobot, mountaincar or lunarlander")
        if not (isinstance(observations, gym.spaces.Box) and len(observations.shape) == 1):
            raise UserError(f"{self.env_id} observes {observations}: only vectors of numbers are read here",
                            "choose an environment with vector observations, e.g. env=cartpole")
        count = int(actions.n)
        names = [str(name) for name in (self.requested_action_names or range(count))]
        if len(names) != count:
            raise UserError(f"env.action_names has {len(names)} names but {self.env_id} has {count} actions",
                            "give one name per action, or env.action_names=null")
        self.class_names, self.observation_shape = names, tuple(observations.shape)
        solved = self.requested_solved_return
        if solved == "auto":
            solved = env.spec.reward_threshold if env.spec is not None else None
            self.decided["solved_return"] = (solved, "the environment's reward threshold")
        self.solved_return = None if solved is None else float(solved)
        env.close()

    @property
    def spec(self) -> dict:
        """Sizes for the Q-network as for any classifier: the observation is its input, one output per action."""
        self.setup()
        return {"in_channels": 1, "input_size": list(self.observation_shape), "num_classes": len(self.class_names),
                "input_kind": self.input_kind}

    def split_size(self, split: str) -> int:
        return {"train": self.steps_per_epoch, "val": self.val_episodes, "test": self.test_episodes}[split]

    def splits_summary(self) -> str:
        def episodes(count: int) -> str:
            return f"{count} episode{'s' if count != 1 else ''}"

        return (f"{self.steps_per_epoch:,} environment steps an epoch ({self.num_envs} at a time) / "
                f"{episodes(self.val_episodes)} for val / {episodes(self.test_episodes)} for test")

    def iterations_per_epoch(self) -> int:
        return max(1, math.ceil(self.steps_per_epoch / (self.iteration_steps * self.num_envs)))

    # The loaders serve iteration numbers: what each iteration does (acting, updating, evaluating) is the task's.
    def train_dataloader(self) -> range:
        return range(self.iterations_per_epoch())

    def val_dataloader(self) -> range:
        return range(1)

    def test_dataloader(self) -> range:
        return range(1)

    def training_environments(self, resumed_at: int = 0):
        """The vector of `num_envs` environments training steps, reset with the run's seed (offset by the steps
        already taken when a run resumes: the episodes under way at a stop start over). A finished episode
        restarts in the same step; its last observation is in info['final_obs']."""
        import gymnasium as gym

        if self.training_env is None:
            self.training_env = gym.make_vec(self.env_id, num_envs=self.num_envs, vectorization_mode="sync",
                                             vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
                                             max_episode_steps=self.max_episode_steps)
            self.training_env.action_space.seed(self.seed + resumed_at)
        observations, _ = self.training_env.reset(seed=self.seed + resumed_at)
        return self.training_env, observations

    def episodes(self, policy: Policy, count: int, first_seed: int,
                 record: Callable[[np.ndarray], None] | None = None) -> list[float]:
        """The returns of `count` episodes of `policy`, the i-th seeded with first_seed + i; `record` receives every
        rendered frame of the first one."""
        env = make_environment(self.env_id, render_mode="rgb_array" if record else None,
                               max_episode_steps=self.max_episode_steps)
        if record is not None:
            _check_rendering(env)
        returns = []
        try:
            for index in range(count):
                observation, _ = env.reset(seed=self.seed + first_seed + index)
                filming = record is not None and index == 0
                if filming:
                    record(env.render())
                total, done = 0.0, False
                while not done:
                    action = policy(torch.as_tensor(observation, dtype=torch.float32)[None])
                    observation, reward, terminated, truncated, _ = env.step(int(action[0]))
                    total += float(reward)
                    done = terminated or truncated
                    if filming:
                        record(env.render())
                returns.append(total)
        finally:
            env.close()
        return returns

    def frames_per_second(self) -> float:
        """The speed the environment is meant to be watched at (its render_fps), for recordings."""
        env = make_environment(self.env_id)
        fps = env.metadata.get("render_fps") or 30
        env.close()
        return float(fps)

    def example_inputs(self, count: int) -> torch.Tensor:
        """`count` observations met by a random policy (seeded): what export verifies the Q-network on."""
        env = make_environment(self.env_id, max_episode_steps=self.max_episode_steps)
        env.action_space.seed(self.seed)
        rows, (observation, _) = [], env.reset(seed=self.seed + TEST_SEEDS)
        while len(rows) < count:
            rows.append(observation)
            observation, _, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                observation, _ = env.reset()
        env.close()
        return torch.as_tensor(np.stack(rows), dtype=torch.float32)

    def teardown(self, stage: str | None = None) -> None:
        if self.training_env is not None and stage == "fit":
            self.training_env.close()
            self.training_env = None


def _check_rendering(env) -> None:
    """Rendering needs pygame (CartPole, Acrobot, MountainCar) or Box2D's own: a missing one is one line."""
    import gymnasium as gym

    try:
        env.reset(seed=0)
        env.render()
    except gym.error.DependencyNotInstalled as error:
        env.close()
        raise UserError(f"cannot render {env.spec.id if env.spec else 'the environment'}: {error}",
                        "install it with pip install 'dltrain[rl]'") from None
