"""Build the data, model and task of a run from its plain config; shared by train and eval."""

from __future__ import annotations

from typing import Any

from dltrain import garbage_collection
from dltrain.errors import UserError


def instantiate(node: dict[str, Any], what: str, recursive: bool = True, **extra: Any) -> Any:
    """Hydra's instantiate, with a failing constructor reported as a user error naming the config group.

    `recursive=False` hands nested configs (an optimizer's `_target_`) to the object as plain dicts.
    """
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate as hydra_instantiate

    try:
        return hydra_instantiate(node, **extra, _convert_="all", _recursive_=recursive)
    except InstantiationException as error:
        cause = error.__cause__
        if isinstance(cause, UserError):
            raise cause from None
        left_over = _left_over_settings(what, node) if isinstance(cause, TypeError) else None
        if left_over:
            option, keys = left_over
            raise UserError(f"{node['_target_']} takes no {', '.join(map(repr, keys))}: settings of {what}={option} "
                            f"that {what}._target_ kept", f"give your {what} a config file of its own "
                            f"(hydra.searchpath=[file:///path/to/conf] {what}=NAME), or drop them: "
                            + " ".join(f"~{what}.{key}" for key in keys)) from None
        reason = str(cause) if cause is not None else str(error).splitlines()[0]
        raise UserError(f"cannot build {what} ({node.get('_target_')}): {reason}",
                        f"check the {what} settings with `dltrain train --cfg job` and `dltrain ls {what}`") from None


def _left_over_settings(group: str, node: dict[str, Any]) -> tuple[str, list[str]] | None:
    """`model._target_=mypackage.Net` replaces the class but keeps the chosen option's other settings (model=lenet's
    activation, pooling, ...): the option and those of its settings the new class does not take, if any."""
    from dltrain.configs import config_dir, option_settings

    option = chosen_option(group)
    if not option or not (config_dir() / group / f"{option}.yaml").is_file():
        return None
    shipped = option_settings(group, option)
    if shipped.get("_target_") == node.get("_target_"):
        return None
    keys = [key for key in shipped if key != "_target_" and key in node and not _takes(node.get("_target_"), key)]
    return (option, keys) if keys else None


def build_data(data_config: dict[str, Any], checkpoint: dict[str, Any] | None = None):
    """The data module, set up. Given a trained run's checkpoint, it first takes back the state it saved there
    (a text vocabulary, the class order), so that inputs are encoded as the model learned them."""
    data = instantiate(data_config, "data")
    saved = (checkpoint or {}).get(type(data).__qualname__)
    if saved:
        data.load_state_dict(saved)
    data.setup("fit")
    return data


# Spec keys that describe the data rather than size the model: given only to the models that take them.
DESCRIPTIVE_KEYS = ("input_kind",)


def build_model(model_config: dict[str, Any], spec: dict[str, Any], task_target: str | None = None):
    """The model, sized by the data's spec, once it is known to be of a family the task (`task_target`) trains and
    to read the data's kind of inputs."""
    target = model_config.get("_target_")
    needed = task_attribute(task_target, "model_kinds")
    _check_model_kind(task_target, needed, target)
    _check_input_kind(target, spec, needed)
    sizes = {key: value for key, value in spec.items() if key not in DESCRIPTIVE_KEYS}
    if "num_targets" in sizes:
        # Models name their output width num_classes, as timm's do: a regression head is a classifier's without the
        # softmax, one output per numeric target.
        sizes["num_classes"] = sizes.pop("num_targets")
    _check_model_reads(target, sizes)
    hints = {key: spec[key] for key in DESCRIPTIVE_KEYS if key in spec and _takes(target, key)}
    return instantiate(model_config, "model", **sizes, **hints)


def _check_input_kind(target: str | None, spec: dict[str, Any], needed: tuple[str, ...] | None = None) -> None:
    """A model family states the kinds of input it reads (its module's INPUT_KINDS); data of another kind is
    refused before anything trains, naming the shipped models that read it (of the families in `needed`)."""
    from dltrain.configs import group_options, option_target
    from dltrain.console import describe_inputs

    kind = spec.get("input_kind")
    kinds = input_kinds(target)
    if kind is None or kinds is None or kind in kinds:
        return
    fitting = [f"model={option}" for option in group_options("model")
               if kind in (input_kinds(option_target("model", option)) or ())
               and (needed is None or model_kind(option_target("model", option)) in needed)]
    readable = " or ".join([", ".join(kinds[:-1]), kinds[-1]] if len(kinds) > 1 else kinds)
    raise UserError(f"{_chosen('model') or target} reads {readable}, not {kind} "
                    f"({_chosen('env') or _chosen('data') or 'the data'} gives {describe_inputs(spec, kind)})",
                    f"choose a model that reads {kind}: {', '.join(fitting)}" if fitting else
                    f"choose data of {readable}, or give a model of your own with model._target_=...")


def input_kinds(target: str | None) -> tuple[str, ...] | None:
    """The INPUT_KINDS of the module that defines `target`; None when it declares none (a user's own model)."""
    return _declared(target, "INPUT_KINDS")


def model_kind(target: str | None) -> str | None:
    """The MODEL_KIND (classifier, autoencoder, vae, gan) of the module that defines model `target`; None when it
    declares none."""
    return _declared(target, "MODEL_KIND")


def _declared(target: str | None, name: str) -> Any:
    import sys

    from dltrain.targets import locate

    try:
        return getattr(sys.modules[locate(target).__module__], name, None)
    except Exception:
        return None


def task_attribute(task_target: str | None, name: str, default: Any = None) -> Any:
    """What the task class a config names declares (`model_kinds`, `models_pixels` ...), before it is built; the
    default where it cannot be imported, which build_task then reports in one line."""
    from dltrain.targets import locate

    try:
        return getattr(locate(task_target), name, default)
    except Exception:
        return default


def chosen_option(group: str) -> str | None:
    """The option the user chose for `group` (e.g. gru for model), when Hydra is running a command."""
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get().runtime.choices.get(group) if HydraConfig.initialized() else None


def _chosen(group: str) -> str | None:
    option = chosen_option(group)
    return f"{group}={option}" if option else None


def _check_model_reads(target: str | None, spec: dict[str, Any]) -> None:
    """A model must take every size the data reports: token ids (`vocab_size`) need an embedding, and a model
    without that argument would otherwise fail with a bare TypeError."""
    for key, value in spec.items():
        if not _takes(target, key):
            raise UserError(f"model {target.rsplit('.', 1)[-1]} cannot read this data: it takes no '{key}' "
                            f"(the data gives {key}={value})",
                            "choose a model made for it: token ids (text) need model=rnn, model=lstm or model=gru"
                            if key == "vocab_size" else "a model's constructor takes the data's sizes: "
                            f"{', '.join(spec)} (see dltrain/models/mlp.py)")


def _takes(target: str | None, argument: str) -> bool:
    """Whether the class or function `target` accepts `argument`; True when it cannot be told (instantiate
    reports those)."""
    import inspect

    from dltrain.targets import locate

    try:
        parameters = inspect.signature(locate(target)).parameters
    except Exception:
        return True
    return argument in parameters or any(parameter.kind is inspect.Parameter.VAR_KEYWORD
                                         for parameter in parameters.values())


def check_targets(task_target: str | None, data) -> None:
    """A task learns from the kind of targets it names (`target_kinds`: classes, numbers, masks, boxes); data of another
    kind (digits for task=segmentation, masks for task=classification) is refused before anything is built, naming the
    data that fits. Sources without targets (an environment) and tasks that ignore them are not checked."""
    from dltrain.configs import group_options, option_target
    from dltrain.targets import locate

    given = getattr(data, "target_kind", None)
    needed = task_attribute(task_target, "target_kinds")
    if given is None or needed is None or given in needed:
        return
    fitting = []
    for option in group_options("data"):
        try:
            source = locate(option_target("data", option))
            if set(getattr(source, "target_kinds", (getattr(source, "target_kind", None),))) & set(needed):
                fitting.append(f"data={option}")
        except Exception:
            continue
    raise UserError(f"{_chosen('task') or task_target} learns from {' or '.join(needed)}, but "
                    f"{_chosen('data') or 'the data'} gives {given}",
                    f"choose data with {needed[0]}: {', '.join(fitting)}" if fitting else "choose other data")


def targets_for_the_task(config: dict[str, Any]) -> None:
    """Data that holds classes or numbers alike (a table, signals) is told which the task learns from when its
    config leaves it to the task (`data.targets=auto`): a regression reads the label column as numbers."""
    data = config["data"]
    if data.get("targets") == "auto":
        needed = task_attribute(config["task"].get("_target_"), "target_kinds") or ("classes",)
        data["targets"] = "numbers" if "numbers" in needed else "classes"


def build_task(config: dict[str, Any], model, spec: dict[str, Any], class_names: list[str]):
    """The LightningModule, given what it takes of the data: the number of classes (classifiers) or of numeric targets
    (regression), the class (or target) names (CTC decodes to them), the kind of inputs (autoencoders measure images
    in PSNR)."""
    target = config["task"].get("_target_")
    offered = {"num_classes": spec.get("num_classes"), "num_targets": spec.get("num_targets"),
               "class_names": list(class_names),
               "input_kind": spec.get("input_kind")}
    wanted = {key: value for key, value in offered.items() if _takes(target, key)}
    return instantiate(config["task"], "task", recursive=False, model=model, optimizer=config["optimizer"],
                       scheduler=config.get("scheduler"), regularization=config.get("regularization"), **wanted)


def _check_model_kind(task_target: str | None, needed: tuple[str, ...] | None, model_target: str | None) -> None:
    """A task trains the model families it names (`model_kinds`: classifiers, autoencoders, VAEs, GANs); a shipped
    model of another family is refused before anything is built, naming the models that fit. A user's own model,
    which states no MODEL_KIND, is taken on trust."""
    from dltrain.configs import group_options, option_target

    given = model_kind(model_target)
    if needed is None or given is None or given in needed:
        return
    fitting = [f"model={option}" for option in group_options("model")
               if model_kind(option_target("model", option)) in needed]
    task = _chosen("task") or task_target
    article = "an" if given[0] in "aeiou" else "a"
    raise UserError(f"{task} trains {' or '.join(needed)} models, but {_chosen('model') or model_target} is "
                    f"{article} {given} model",
                    f"choose one of: {', '.join(fitting)}" if fitting else "choose a model of that family")


def build_trained_task(checkpoint: dict[str, Any]):
    """The task of a trained run, with its weights, rebuilt from a checkpoint's own metadata alone."""
    from dltrain.checkpoints import METADATA_KEY

    metadata = checkpoint[METADATA_KEY]
    model = build_model(metadata["config"]["model"], metadata["spec"], metadata["config"]["task"].get("_target_"))
    task = build_task(metadata["config"], model, metadata["spec"], metadata["class_names"])
    task.load_state_dict(checkpoint["state_dict"])
    return task


def build_trainer(trainer_config: dict[str, Any], **wiring: Any):
    """A Lightning Trainer; settings it rejects (no GPU for accelerator=gpu, unknown keys) are user errors."""
    import pytorch_lightning as pl
    import torch
    from lightning_fabric.utilities.exceptions import MisconfigurationException

    try:
        trainer = pl.Trainer(**trainer_config, **wiring)
    except (MisconfigurationException, TypeError, ValueError, RuntimeError) as error:
        reason = str(error).strip().splitlines()[0]
        raise UserError(f"cannot set up the trainer: {reason}",
                        "check the trainer.* settings (see --cfg job), e.g. trainer.accelerator=cpu") from None
    # Deterministic kernels stay; filling every new tensor's memory with NaN first (PyTorch's default in that mode, a
    # debugging aid: correct code never reads memory it has not written) is one more kernel per allocation: 1,140
    # fills in a LeNet-5 epoch on digits, about 1% of it on a CPU, more on a GPU's many small tensors.
    torch.utils.deterministic.fill_uninitialized_memory = False
    garbage_collection.settle()  # the imports are done and the data loaded: start-up ends with the trainer
    return trainer
