"""Deep Q-learning on gymnasium environments through the same CLI: an agent learns CartPole, eval replays it (the
same figures, a GIF to watch), export verifies its Q-network, predict is refused, a run resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from tests.conftest import assert_user_error, run_in_process

# CI-sized: 7,500 environment steps, 64 steps then 32 updates of a 64-64 MLP, about 22 s on one core (greedy return
# 206 at seeds 42 and 7).
SMALL_CARTPOLE = ["task=dqn", "env=cartpole", "model.hidden_sizes=[64,64]", "scheduler=none", "optimizer.lr=0.0023",
                  "task.learning_starts=500", "task.train_frequency=64", "task.gradient_steps=32",
                  "task.target_update_interval=32", "task.exploration_fraction=0.2", "env.steps_per_epoch=2500",
                  "trainer.max_epochs=3", "env.val_episodes=5", "env.test_episodes=20"]
# A random policy's mean return on CartPole-v1 is about 22 (measured below with the same episode seeds).
TINY = ["task=dqn", "env=cartpole", "model.hidden_sizes=[16]", "task.learning_starts=100", "env.steps_per_epoch=300",
        "trainer.max_epochs=1", "env.val_episodes=2", "env.test_episodes=3"]


def _metrics(run: Path) -> dict[str, float]:
    return json.loads((run / "metrics.json").read_text())


@pytest.fixture(scope="module")
def agent(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dqn")
    result = run_in_process("train", *SMALL_CARTPOLE, "hydra.run.dir=agent", cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    return root / "agent"


def _random_policy_return(episodes: int) -> float:
    from dltrain.data.environment import TEST_SEEDS, EnvironmentDataModule

    data = EnvironmentDataModule("CartPole-v1", seed=42)
    data.setup()
    generator = torch.Generator().manual_seed(0)
    returns = data.episodes(lambda observations: torch.randint(2, (len(observations),), generator=generator),
                            episodes, TEST_SEEDS)
    return sum(returns) / len(returns)


@pytest.mark.slow
def test_a_dqn_agent_learns_cartpole_far_beyond_a_random_policy(agent: Path):
    learned, random = _metrics(agent)["test/return_mean"], _random_policy_return(20)
    print(f"CartPole-v1, 7,500 steps: greedy policy {learned:.1f}, random policy {random:.1f} (20 episodes)")
    assert learned >= 100 and random < 40
    header = (agent / "metrics.csv").read_text().splitlines()[0]
    for column in ("train/episodic_return", "train/epsilon", "train/env_steps", "val/return"):
        assert column in header
    with Image.open(agent / "returns.png") as plot:
        assert plot.size[0] > 300
    config = (agent / "config.yaml").read_text()
    assert "id: CartPole-v1" in config and "monitor: val/return" in config


@pytest.mark.slow
def test_eval_replays_the_test_episodes_and_films_one(agent: Path):
    result = run_in_process("eval", "run=agent", "episodes=20", "record=episode.gif", cwd=agent.parent)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "test (20 episodes)" in result.stdout
    evaluated = json.loads((agent / "eval.json").read_text())
    assert evaluated == {key: value for key, value in _metrics(agent).items() if key.startswith("test/")}
    with Image.open(agent.parent / "episode.gif") as film:
        assert film.format == "GIF" and film.size == (600, 400) and film.n_frames > 20


@pytest.mark.slow
def test_export_verifies_the_q_network_and_predict_points_to_eval(agent: Path):
    exported = run_in_process("export", "run=agent", "format=onnx", cwd=agent.parent)
    assert exported.returncode == 0, exported.stderr[-2000:]
    manifest = json.loads((agent / "export" / "manifest.json").read_text())
    assert manifest["input"]["kind"] == "observations" and manifest["input"]["shape"] == ["batch", 4]
    assert manifest["class_names"] == ["push_left", "push_right"] and "value of each action" in \
        manifest["output"]["meaning"]
    assert manifest["artifacts"]["onnx"]["max_abs_diff"] <= 1e-4
    refused = run_in_process("predict", "run=agent", "input=anything.csv", cwd=agent.parent)
    assert_user_error(refused, "acts in its environment", "dltrain eval")


@pytest.mark.slow
def test_the_same_seed_gives_the_same_returns_and_a_run_resumes(tmp_path: Path):
    for name in ("one", "two"):
        result = run_in_process("train", *TINY, f"hydra.run.dir={name}", cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
    assert _metrics(tmp_path / "one") == _metrics(tmp_path / "two")
    extended = run_in_process("train", "resume=one", "trainer.max_epochs=2", cwd=tmp_path)
    assert extended.returncode == 0, extended.stderr[-2000:]
    checkpoint = torch.load(tmp_path / "one" / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["dqn"]["env_steps"] == 600 and len(checkpoint["dqn"]["replay"]["actions"]) == 600
    assert len((tmp_path / "one" / "metrics.csv").read_text().splitlines()) == 3


@pytest.mark.slow
def test_double_dqn_with_dueling_heads_on_acrobot(tmp_path: Path):
    result = run_in_process("train", "task=dqn", "env=acrobot", "task.double=true", "task.dueling=true",
                            "model.hidden_sizes=[16]", "env.steps_per_epoch=500", "trainer.max_epochs=1",
                            "task.learning_starts=100", "env.val_episodes=1", "env.test_episodes=1",
                            "env.num_envs=2", "hydra.run.dir=acrobot", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "dueling heads" in result.stdout and "Acrobot-v1" in result.stdout
    checkpoint = torch.load(tmp_path / "acrobot" / "checkpoints" / "last.ckpt", weights_only=True)
    assert "model.layers.3.value.weight" in checkpoint["state_dict"]
    assert checkpoint["dqn"]["env_steps"] == 500
    assert -500 <= _metrics(tmp_path / "acrobot")["test/return_mean"] <= 0


def test_dueling_heads_combine_value_and_centred_advantages():
    from dltrain.models.dueling import DuelingHead, with_dueling_head
    from dltrain.models.mlp import MLP

    model = with_dueling_head(MLP(3, input_size=[4], hidden_sizes=[8]))
    head = model.layers[-1]
    assert isinstance(head, DuelingHead)
    features = torch.randn(5, 8)
    advantages = head.advantage(features)
    expected = head.value(features) + advantages - advantages.mean(dim=1, keepdim=True)
    assert torch.allclose(head(features), expected)
    assert model(torch.randn(5, 4)).shape == (5, 3)


def test_the_replay_buffer_keeps_the_latest_transitions_and_round_trips():
    from dltrain.tasks.reinforcement.replay import ReplayBuffer

    buffer = ReplayBuffer(4, (2,))
    for step in range(6):
        buffer.add(torch.full((1, 2), float(step)), torch.tensor([step]), torch.tensor([1.0]),
                   torch.full((1, 2), step + 1.0), torch.tensor([0.0]))
    assert buffer.size == 4 and sorted(buffer.actions.tolist()) == [2, 3, 4, 5]
    copy = ReplayBuffer(4, (2,))
    copy.load_state_dict(buffer.state_dict())
    assert torch.equal(copy.observations, buffer.observations) and copy.position == buffer.position
    observations, actions, *_ = copy.sample(16, torch.device("cpu"))
    assert torch.equal(observations[:, 0], actions.float())
