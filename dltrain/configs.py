"""Where the shipped configs live and what they offer; cheap enough for `dltrain ls` and `--help`."""

from __future__ import annotations

from functools import cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


@cache
def config_dir() -> Path:
    """`conf/` sits inside the wheel as dltrain/conf; in a source checkout it is the top-level conf/."""
    for candidate in (PACKAGE_DIR / "conf", PACKAGE_DIR.parent / "conf"):
        if (candidate / "train.yaml").is_file():
            return candidate
    raise RuntimeError(f"dltrain's configs are missing: neither {PACKAGE_DIR / 'conf'} nor "
                       f"{PACKAGE_DIR.parent / 'conf'} holds train.yaml; reinstall dltrain")


@cache
def groups() -> tuple[str, ...]:
    """The config groups a user chooses from (model, data, ...); conf/hydra holds launchers for Hydra's own group."""
    return tuple(sorted(p.name for p in config_dir().iterdir()
                        if p.is_dir() and not p.name.startswith((".", "_")) and p.name != "hydra"))


def group_options(group: str) -> list[str]:
    folder = config_dir() / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def description(group: str, option: str) -> str:
    """The first sentence of the comment a config file opens with: what `dltrain ls` shows for the option."""
    lines = []
    with open(config_dir() / group / f"{option}.yaml", encoding="utf-8") as handle:
        for line in handle:
            text = line.strip()
            if text.startswith("# @package") or not (text or lines):
                continue
            comment = text.lstrip("# ")
            if not text.startswith("#") or not comment:
                break
            lines.append(comment)
    return first_sentence(" ".join(lines))


# Words a full stop follows without ending a sentence ("He et al. 2017", "sec. 4.2", "e.g. lr=0.1").
ABBREVIATIONS = frozenset({"al", "approx", "cf", "e.g", "eq", "etc", "fig", "i.e", "no", "sec", "vs"})


def first_sentence(text: str) -> str:
    """`text` up to the full stop that ends its first sentence: one outside brackets, followed by a space or the end,
    after a word that is not an abbreviation or an initial (so "2.3e-3" and "He et al. 2017" do not end it)."""
    depth = 0
    for index, character in enumerate(text):
        if character in "([":
            depth += 1
        elif character in ")]":
            depth = max(depth - 1, 0)
        elif character == "." and depth == 0 and text[index + 1 : index + 2] in ("", " "):
            word = text[:index].rsplit(" ", 1)[-1].lstrip("([").lower()
            if word not in ABBREVIATIONS and len(word) > 1:
                return text[: index + 1]
    return text


def option_settings(group: str, option: str) -> dict:
    """A shipped option's YAML as written (its `_target_` and settings; defaults lists unresolved)."""
    import yaml

    with open(config_dir() / group / f"{option}.yaml", encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def option_target(group: str, option: str) -> str | None:
    """The `_target_` a shipped option builds."""
    return option_settings(group, option).get("_target_")


def defaults(config_name: str = "train") -> dict[str, str | None]:
    """The group choices a command starts from, read from its primary config's defaults list."""
    import yaml

    with open(config_dir() / f"{config_name}.yaml", encoding="utf-8") as handle:
        primary = yaml.safe_load(handle) or {}
    chosen: dict[str, str | None] = {}
    for entry in primary.get("defaults", []):
        if isinstance(entry, dict):
            for key, value in entry.items():
                chosen[key.removeprefix("override ")] = value
    return chosen
