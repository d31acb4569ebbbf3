"""DQN's two costs, dltrain against a minimal single-file DQN loop in plain PyTorch on the same settings
(experiment=cartpole_dqn: CartPole-v1, MLP 256-256, fused Adam, batches of 64, 256 steps then 128 updates):

1. environment steps per second while acting (epsilon-greedy, into the replay buffer), no updates;
2. updates per second (sample, the target network's values, Huber loss, clipping, Adam step, target sync).

dltrain's figures come from two one-epoch runs of `dltrain train` (one whose updates never start, one that updates
from the first iteration); their epoch times (printed on the console, one short validation episode included) give
the rates. Everything runs on one thread, one run at a time. Prints a table and writes
benchmarks/results/dqn_throughput.json. Run: .venv/bin/python benchmarks/dqn_throughput.py
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

RESULTS = Path(__file__).resolve().parent / "results" / "dqn_throughput.json"
STEPS, TRAIN_FREQUENCY, GRADIENT_STEPS = 8192, 256, 128


def dltrain_epoch_seconds(updating: bool) -> float:
    overrides = ["experiment=cartpole_dqn", "trainer.max_epochs=1", f"env.steps_per_epoch={STEPS}",
                 "env.val_episodes=1", "env.test_episodes=1", "env.solved_return=null",
                 f"task.learning_starts={0 if updating else STEPS + 1}", "hydra.run.dir=run"]
    with TemporaryDirectory() as folder:
        result = subprocess.run([sys.executable, "-m", "dltrain", "train", *overrides], cwd=folder, check=True,
                                capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return float(re.search(r"epoch 1/1 .* ([\d.]+) s", result.stdout).group(1))


def plain_loop_seconds(updating: bool) -> float:
    """The same work without Lightning or dltrain: what a tutorial's single-file DQN does."""
    import gymnasium as gym
    import torch
    from torch import nn
    from torch.nn import functional

    torch.set_num_threads(1)
    torch.manual_seed(0)
    envs = gym.make_vec("CartPole-v1", num_envs=1, vectorization_mode="sync",
                        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP})
    network = nn.Sequential(nn.Linear(4, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 2))
    target = nn.Sequential(nn.Linear(4, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 2))
    target.load_state_dict(network.state_dict())
    optimizer = torch.optim.Adam(network.parameters(), lr=2.3e-3, fused=True)
    observations_buffer = torch.zeros(STEPS, 4)
    next_buffer, actions_buffer = torch.zeros(STEPS, 4), torch.zeros(STEPS, dtype=torch.int64)
    rewards_buffer, ends_buffer = torch.zeros(STEPS), torch.zeros(STEPS)
    observations, _ = envs.reset(seed=0)
    size, updates = 0, 0
    start = time.perf_counter()
    for _ in range(math.ceil(STEPS / TRAIN_FREQUENCY)):
        for _ in range(TRAIN_FREQUENCY):
            with torch.no_grad():
                action = network(torch.as_tensor(observations)).argmax(dim=1)
            if torch.rand(1).item() < 0.1:
                action = torch.randint(2, (1,))
            following, reward, terminated, truncated, info = envs.step(action.numpy())
            stored = following.copy()
            if terminated[0] or truncated[0]:
                stored[0] = info["final_obs"][0]
            observations_buffer[size], next_buffer[size] = torch.as_tensor(observations[0]), torch.as_tensor(stored[0])
            actions_buffer[size], rewards_buffer[size] = action[0], float(reward[0])
            ends_buffer[size] = float(terminated[0])
            size += 1
            observations = following
        if not updating:
            continue
        for _ in range(GRADIENT_STEPS):
            index = torch.randint(size, (64,))
            with torch.no_grad():
                following_values = target(next_buffer[index]).max(1).values
                goal = rewards_buffer[index] + 0.99 * (1 - ends_buffer[index]) * following_values
            values = network(observations_buffer[index]).gather(1, actions_buffer[index, None]).squeeze(1)
            loss = functional.smooth_l1_loss(values, goal)
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(network.parameters(), 10.0)
            optimizer.step()
            updates += 1
            if updates % GRADIENT_STEPS == 0:
                target.load_state_dict(network.state_dict())
    envs.close()
    return time.perf_counter() - start


def main() -> None:
    import torch

    updates = math.ceil(STEPS / TRAIN_FREQUENCY) * GRADIENT_STEPS
    acting = {"dltrain": dltrain_epoch_seconds(False), "plain loop": plain_loop_seconds(False)}
    learning = {"dltrain": dltrain_epoch_seconds(True), "plain loop": plain_loop_seconds(True)}
    rows: dict[str, float] = {}
    for name in ("dltrain", "plain loop"):
        rows[f"{name}: environment steps/s"] = STEPS / acting[name]
        rows[f"{name}: updates/s"] = updates / (learning[name] - acting[name])
    rows["plain / dltrain, environment steps/s"] = rows["plain loop: environment steps/s"] / rows[
        "dltrain: environment steps/s"]
    rows["plain / dltrain, updates/s"] = rows["plain loop: updates/s"] / rows["dltrain: updates/s"]
    width = max(map(len, rows))
    for name, value in rows.items():
        print(f"{name:<{width}}  {value:10.2f}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"torch": torch.__version__, "steps": STEPS, "updates": updates, **rows},
                                  indent=2) + "\n")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
