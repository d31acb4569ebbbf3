"""Deep Q-learning (Mnih et al. 2015) with what every current implementation adds: a replay buffer, a target
network (copied every `target_update_interval` updates, or followed by Polyak averaging with `tau` < 1),
epsilon-greedy exploration on a linear schedule, the Huber loss, gradient clipping, Double DQN (van Hasselt et al.
2016) and dueling heads as options.

Lightning runs it like any other task: one training "batch" is one iteration of `train_frequency` steps of every
environment followed by `gradient_steps` updates; `trainer.max_steps` therefore counts updates (optimizer steps),
and an epoch is the environment's `steps_per_epoch` environment steps. Checkpoints hold the replay buffer and the
step counts besides the networks, so a resumed run goes on learning from the same experience.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional

from dltrain.errors import UserError
from dltrain.tasks.base import Task
from dltrain.tasks.reinforcement.replay import ReplayBuffer

STATE_KEY = "dqn"


class DQNTask(Task):
    """Logs `train/loss`, `train/q` (the mean Q-value of the actions taken), `train/episodic_return`,
    `train/epsilon` and `train/env_steps`; `val/return` (the mean of the environment's `val_episodes` greedy
    episodes) picks best.ckpt and stops training once it reaches the environment's solved return; the test is
    `test_episodes` greedy episodes: `test/return_mean`, `test/return_std`."""

    model_kinds = ("classifier",)
    # What `task=dqn` means unless the command line says otherwise (see launch.py): an MLP Q-network at a constant
    # learning rate of 5e-4 (Adam at the command's default 3e-3 on a cosine schedule barely learns CartPole).
    implied_overrides = ("model=mlp", "scheduler=none", "optimizer.lr=0.0005")
    # What it learns from: the env group, not the data group (see commands/train.py).
    learns_from = "environment"
    monitor = "val/return"
    monitor_mode = "max"
    # Several updates per Lightning step and an environment per process: DDP's one-backward-per-step sync does not
    # fit, so train refuses more than one process.
    single_process = True

    def __init__(self, model: nn.Module, optimizer: dict[str, Any], scheduler: dict[str, Any] | None = None,
                 regularization: dict[str, float] | None = None, num_classes: int | None = None,
                 gamma: float = 0.99, buffer_size: int = 100_000, batch_size: int = 64, learning_starts: int = 1000,
                 train_frequency: int = 4, gradient_steps: int = 1, target_update_interval: int = 250,
                 tau: float = 1.0, epsilon_start: float = 1.0, epsilon_end: float = 0.05,
                 exploration_fraction: float = 0.1, double: bool = False, dueling: bool = False,
                 loss: str = "huber", max_grad_norm: float | None = 10.0) -> None:
        _check_settings(gamma=gamma, buffer_size=buffer_size, batch_size=batch_size, learning_starts=learning_starts,
                        train_frequency=train_frequency, gradient_steps=gradient_steps,
                        target_update_interval=target_update_interval, tau=tau, epsilon_start=epsilon_start,
                        epsilon_end=epsilon_end, exploration_fraction=exploration_fraction, loss=loss,
                        max_grad_norm=max_grad_norm)
        if dueling:
            from dltrain.models.dueling import with_dueling_head

            model = with_dueling_head(model)
        super().__init__(model, optimizer, scheduler, regularization)
        self.automatic_optimization = False
        self.target = copy.deepcopy(model).requires_grad_(False)
        self.gamma, self.batch_size, self.learning_starts = gamma, batch_size, learning_starts
        self.train_frequency, self.gradient_steps = train_frequency, gradient_steps
        self.target_update_interval, self.tau = target_update_interval, tau
        self.epsilon_start, self.epsilon_end = epsilon_start, epsilon_end
        self.exploration_fraction = exploration_fraction
        self.double, self.max_grad_norm = double, max_grad_norm
        self.loss = functional.smooth_l1_loss if loss == "huber" else functional.mse_loss
        self.buffer_size = buffer_size
        self.replay: ReplayBuffer | None = None
        self.env_steps = self.updates = 0
        # (environment steps, return) of every finished training episode and of every validation: returns.png.
        self.curve: list[tuple[int, float]] = []
        self.val_curve: list[tuple[int, float]] = []
        self.environment = self.observations = None
        self.running_returns = np.zeros(0)
        self.epoch_figures: dict[str, list] = {"returns": [], "loss": [], "q": []}

    # ---- acting
    def greedy(self, observations: torch.Tensor) -> torch.Tensor:
        """The action of highest value for each observation: the policy that is evaluated and exported."""
        with torch.no_grad():
            return self.model(observations.to(self.device)).argmax(dim=1).cpu()

    def epsilon(self) -> float:
        """Linear from epsilon_start to epsilon_end over exploration_fraction of the run's planned steps."""
        data = self.trainer.datamodule
        planned = max(1, self.trainer.max_epochs) * data.steps_per_epoch
        progress = self.env_steps / max(1.0, self.exploration_fraction * planned)
        return self.epsilon_end + (self.epsilon_start - self.epsilon_end) * max(0.0, 1.0 - progress)

    def _act(self, epsilon: float) -> torch.Tensor:
        observations = torch.as_tensor(self.observations, dtype=torch.float32)
        greedy = self.greedy(observations)
        random = torch.randint(len(self.trainer.datamodule.class_names), (len(greedy),))
        return torch.where(torch.rand(len(greedy)) < epsilon, random, greedy)

    def on_train_start(self) -> None:
        super().on_train_start()
        data = self.trainer.datamodule
        if self.replay is None:
            self.replay = ReplayBuffer(self.buffer_size, data.observation_shape)
        self.environment, self.observations = data.training_environments(resumed_at=self.env_steps)
        self.running_returns = np.zeros(data.num_envs)

    def setup(self, stage: str) -> None:
        """The environment's epochs are cut into iterations of this task's train_frequency."""
        if self.trainer is not None and self.trainer.datamodule is not None:
            self.trainer.datamodule.iteration_steps = self.train_frequency

    def _collect(self, batch_index: int) -> list[float]:
        """`train_frequency` steps of every environment into the replay buffer (the epoch's last iteration: what is
        left of its steps_per_epoch); the returns of the episodes that finished."""
        data = self.trainer.datamodule
        left = data.steps_per_epoch - batch_index * self.train_frequency * data.num_envs
        finished = []
        for _ in range(min(self.train_frequency, math.ceil(left / data.num_envs))):
            actions = self._act(self.epsilon())
            observations, rewards, terminated, truncated, info = self.environment.step(actions.numpy())
            ended = np.logical_or(terminated, truncated)
            following = np.array(observations, dtype=np.float32, copy=True)
            for index in np.flatnonzero(ended):
                following[index] = info["final_obs"][index]
            self.replay.add(torch.as_tensor(self.observations, dtype=torch.float32), actions,
                            torch.as_tensor(rewards, dtype=torch.float32), torch.from_numpy(following),
                            torch.as_tensor(terminated, dtype=torch.float32))
            self.running_returns += rewards
            self.env_steps += len(actions)
            for index in np.flatnonzero(ended):
                finished.append(float(self.running_returns[index]))
                self.curve.append((self.env_steps, finished[-1]))
                self.running_returns[index] = 0.0
            self.observations = observations
        return finished

    # ---- learning
    def _update(self) -> tuple[torch.Tensor, torch.Tensor]:
        observations, actions, rewards, following, terminated = self.replay.sample(self.batch_size, self.device)
        with torch.no_grad():
            if self.double:
                chosen = self.model(following).argmax(dim=1, keepdim=True)
                next_values = self.target(following).gather(1, chosen).squeeze(1)
            else:
                next_values = self.target(following).max(dim=1).values
            targets = rewards + self.gamma * (1.0 - terminated) * next_values
        values = self.model(observations).gather(1, actions[:, None]).squeeze(1)
        loss = self.loss(values, targets)
        optimizer = self.optimizers()
        optimizer.zero_grad()
        self.manual_backward(loss + sum(self.penalties().values()))
        if self.max_grad_norm:
            self.clip_gradients(optimizer, gradient_clip_val=self.max_grad_norm, gradient_clip_algorithm="norm")
        optimizer.step()
        self.step_schedulers("step")
        self.updates += 1
        self._follow_target()
        return loss.detach(), values.detach().mean()

    def _follow_target(self) -> None:
        if self.tau < 1.0:
            with torch.no_grad():
                for target, online in zip(self.target.parameters(), self.model.parameters(), strict=True):
                    target.lerp_(online, self.tau)
        elif self.updates % self.target_update_interval == 0:
            self.target.load_state_dict(self.model.state_dict())

    def training_step(self, batch: Any, batch_index: int) -> None:
        """Figures are summed here and logged once an epoch: Lightning's log() costs more than a small update."""
        finished = self._collect(batch_index)
        self.epoch_figures["returns"] += finished
        if self.env_steps >= max(self.learning_starts, self.batch_size):
            for _ in range(self.gradient_steps):
                loss, values = self._update()
                self.epoch_figures["loss"].append(loss)
                self.epoch_figures["q"].append(values)
        if batch_index == self.trainer.num_training_batches - 1:  # before validation: on the epoch's line
            self._log_epoch()

    def on_train_epoch_start(self) -> None:
        self.epoch_figures = {"returns": [], "loss": [], "q": []}

    def _log_epoch(self) -> None:
        figures = self.epoch_figures
        if figures["loss"]:
            self.log("train/loss", torch.stack(figures["loss"]).mean(), prog_bar=True)
            self.log("train/q", torch.stack(figures["q"]).mean())
        if figures["returns"]:
            self.log("train/episodic_return", float(np.mean(figures["returns"])))
        self.log("train/epsilon", self.epsilon())
        self.log("train/env_steps", float(self.env_steps))

    def on_train_epoch_end(self) -> None:
        self.step_schedulers("epoch")
        super().on_train_epoch_end()

    # ---- evaluating
    def validation_step(self, batch: Any, batch_index: int) -> None:
        from dltrain.data.environment import VAL_SEEDS

        data = self.trainer.datamodule
        returns = data.episodes(self.greedy, data.val_episodes, VAL_SEEDS)
        self.log("val/return", float(np.mean(returns)), batch_size=1, prog_bar=True)
        if not self.trainer.sanity_checking:
            self.val_curve.append((self.env_steps, float(np.mean(returns))))

    def test_step(self, batch: Any, batch_index: int) -> None:
        from dltrain.data.environment import TEST_SEEDS

        data = self.trainer.datamodule
        returns = data.episodes(self.greedy, data.test_episodes, TEST_SEEDS)
        self.log(f"{self.eval_stage}/return_mean", float(np.mean(returns)), batch_size=1)
        self.log(f"{self.eval_stage}/return_std", float(np.std(returns)), batch_size=1)

    def configure_callbacks(self) -> list[pl.Callback]:
        from dltrain.tasks.reinforcement.returns import ReturnsPlot

        return [ReturnsPlot()]

    # ---- checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[STATE_KEY] = {"env_steps": self.env_steps, "updates": self.updates,
                                 "curve": torch.tensor(self.curve, dtype=torch.float64).reshape(-1, 2),
                                 "val_curve": torch.tensor(self.val_curve, dtype=torch.float64).reshape(-1, 2),
                                 "replay": self.replay.state_dict() if self.replay is not None else None}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        state = checkpoint.get(STATE_KEY)
        if not state:
            return
        self.env_steps, self.updates = int(state["env_steps"]), int(state["updates"])
        self.curve = [(int(step), value) for step, value in state["curve"].tolist()]
        self.val_curve = [(int(step), value) for step, value in state["val_curve"].tolist()]
        if state["replay"] is not None:
            shape = tuple(state["replay"]["observations"].shape[1:])
            self.replay = ReplayBuffer(self.buffer_size, shape)
            self.replay.load_state_dict(state["replay"])


def _check_settings(**settings: Any) -> None:
    """Every setting in its range, or one line naming it."""
    whole = {"buffer_size": 1, "batch_size": 1, "learning_starts": 0, "train_frequency": 1, "gradient_steps": 1,
             "target_update_interval": 1}
    for name, least in whole.items():
        value = settings[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise UserError(f"task.{name}={value!r} is invalid", f"pass an integer >= {least}")
    fractions = {"gamma": (0, 1), "tau": (0, 1), "epsilon_start": (0, 1), "epsilon_end": (0, 1),
                 "exploration_fraction": (0, 1)}
    for name, (low, high) in fractions.items():
        value = settings[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high \
                or (name == "tau" and value == 0):
            raise UserError(f"task.{name}={value!r} is invalid", f"pass a number in {'(' if name == 'tau' else '['}"
                            f"{low}, {high}]")
    if settings["loss"] not in ("huber", "mse"):
        raise UserError(f"task.loss={settings['loss']!r} is invalid", "choose huber or mse")
    clip = settings["max_grad_norm"]
    if clip is not None and (isinstance(clip, bool) or not isinstance(clip, (int, float)) or not clip > 0
                             or math.isinf(clip)):
        raise UserError(f"task.max_grad_norm={clip!r} is invalid", "pass a norm above 0, e.g. 10, or null")
