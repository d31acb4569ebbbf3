"""The catalogue of bad inputs: each row is a command a user may type with a mistake in it, and the fragments
of the one line it must answer with (exit code 2, `error: <what> — <fix>`, no traceback, nothing left behind).

New error paths join CATALOGUE. The rows run in this process (run_in_process), so the whole catalogue pays
for importing Lightning once rather than once per row; a few tests at the end hold the real process to the
same promise.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from dltrain.data.dense.shapes import write_shapes
from tests.conftest import assert_user_error, run_dltrain, run_in_process
from tests.fabricate import topic_texts, write_image_tree, write_texts, write_wav

# (id, arguments, fragments of the error line). {work} is a folder of fabricated inputs, {run} a trained run.
CATALOGUE: list[tuple[str, list[str], tuple[str, ...]]] = [
    # The command line, before anything is built
    ("unknown command", ["trian"], ("unknown command 'trian'", "did you mean 'train'?")),
    ("ls: unknown group", ["ls", "modle"], ("unknown config group 'modle'", "did you mean 'model'?")),
    ("unknown model", ["train", "model=lenett"], ("unknown model 'lenett'", "did you mean 'lenet'?")),
    ("unknown key", ["train", "optimizer.lrr=0.1"], ("unknown key 'optimizer.lrr'", "did you mean 'optimizer.lr'?")),
    ("a needed group left out", ["train", "~optimizer"],
     ("~optimizer leaves out the optimizer group, which dltrain train needs", "optimizer=OPTION")),
    ("a needed group null", ["train", "model=null"],
     ("~model leaves out the model group, which dltrain train needs", "dltrain ls model")),
    ("lr not a number", ["train", "optimizer.lr=abc"], ("optimizer.lr must be a number, got 'abc'", "optimizer.lr=")),
    ("lr 0", ["train", "optimizer.lr=0"], ("optimizer.lr=0 is invalid", "a number above 0")),
    ("lr negative", ["train", "optimizer.lr=-1"], ("optimizer.lr=-1 is invalid", "a number above 0")),
    ("batch size 0", ["train", "data.batch_size=0"], ("data.batch_size=0 is invalid", "an integer >= 1")),
    ("batch size 1.5", ["train", "data.batch_size=1.5"], ("data.batch_size=1.5 is invalid", "an integer >= 1")),
    ("fraction 1.5", ["train", "data.val_fraction=1.5"], ("data.val_fraction=1.5 is invalid", "between 0 and 1")),
    ("fractions past 1", ["train", "data.val_fraction=0.6", "data.test_fraction=0.5"],
     ("data.val_fraction + data.test_fraction = 1.1 leaves no training data", "keep their sum below 1")),
    ("hidden sizes not a list", ["train", "model=mlp", "model.hidden_sizes=3"],
     ("model.hidden_sizes must be a list", "[256,128]")),
    ("bool not a bool", ["train", "model=mlp", "model.batch_norm=maybe"],
     ("model.batch_norm must be true or false", "false")),
    ("dropout 1.5", ["train", "model.dropout=1.5"], ("model.dropout=1.5 is invalid", "[0, 1)")),
    ("max_epochs 0", ["train", "trainer.max_epochs=0"], ("trainer.max_epochs=0 is invalid", "20")),
    ("channels_last not a choice", ["train", "trainer.channels_last=maybe"],
     ("trainer.channels_last=maybe is invalid: it must be auto, true or false", "trainer.channels_last=false")),
    ("negative l1", ["train", "regularization.l1=-1"], ("regularization.l1=-1 is invalid", "a number >= 0")),
    ("negative patience", ["train", "callbacks.early_stopping.patience=-1"],
     ("callbacks.early_stopping.patience=-1 is invalid", "an integer >= 0")),
    ("seed not a number", ["train", "seed=abc"], ("seed must be a number, got 'abc'", "seed=42")),
    ("sweep without -m", ["train", "optimizer=adam,sgd"], ("gives several values", "add -m")),
    ("sweep with a typo", ["train", "-m", "optimizer=adam,sgdd"], ("unknown optimizer 'sgdd'", "did you mean 'sgd'?")),
    ("unreadable override", ["train", "nonsense"], ("cannot read override", "key=value")),
    ("unknown trainer setting", ["train", "debug=smoke", "+trainer.max_epoch=3"],
     ("cannot set up the trainer", "max_epoch")),
    # Hostile command lines: refused before anything runs
    ("model target os.system", ["train", "model._target_=os.system"],
     ("model._target_=os.system is not a model", "dltrain ls model")),
    ("model target torch.load", ["train", "model._target_=torch.load", "+model.f=x.pt", "+model.weights_only=false"],
     ("model._target_=torch.load is not a model", "dltrain ls model")),
    ("data target builtins.exec", ["train", "data._target_=builtins.exec"],
     ("data._target_=builtins.exec is not a data module", "dltrain ls data")),
    ("target at an odd place", ["train", "+trainer.plugins._target_=os.system"],
     ("trainer.plugins._target_=os.system: dltrain builds only its own classes there", "remove")),
    ("own model given the option's settings", ["train", "model._target_=tests.own_model.StrictNet"],
     ("tests.own_model.StrictNet takes no 'activation', 'pooling', 'dropout', 'image_size': settings of model=lenet",
      "~model.activation ~model.pooling ~model.dropout ~model.image_size")),
    ("model target missing", ["train", "model._target_=mypackage.Net"],
     ("model._target_=mypackage.Net cannot be imported: No module named 'mypackage'", "installed")),
    # Rows (data=tabular)
    ("tabular without a path", ["train", "data=tabular"],
     ("data.label_column, data.path must be given", "data.path=...")),
    ("missing CSV", ["train", "data=tabular", "data.path=missing.csv", "data.label_column=y"],
     ("no such file 'missing.csv'", "data.path=")),
    ("header-only CSV", ["train", "data=tabular", "data.path={work}/header_only.csv", "data.label_column=species"],
     ("has no data rows", "header row and data rows")),
    ("single-class CSV", ["train", "data=tabular", "data.path={work}/one_class.csv", "data.label_column=species"],
     ("holds a single class", "at least two label values")),
    ("missing feature", ["train", "data=tabular", "data.path={work}/nan.csv", "data.label_column=species"],
     ("nan.csv line 3, column 'petal_width' has no value (1 missing in all)", "data.missing=mean")),
    ("missing-value policy typo", ["train", "data=tabular", "data.path={work}/nan.csv", "data.label_column=species",
                                   "data.missing=average"], ("data.missing=average is invalid", "error, mean or drop")),
    ("inf feature", ["train", "data=tabular", "data.path={work}/inf.csv", "data.label_column=species"],
     ("line 4, column 'petal_length': 'inf' is not a finite number", "replace it")),
    ("text in a feature", ["train", "data=tabular", "data.path={work}/words.csv", "data.label_column=species"],
     ("column 'petal_length': 'long' is not a number", "data.feature_columns")),
    ("a workbook for a CSV file", ["train", "data=tabular", "data.path={work}/flowers.xlsx",
                                   "data.label_column=species"],
     ("flowers.xlsx is a spreadsheet workbook", "CSV UTF-8")),
    ("a table not in UTF-8", ["train", "data=tabular", "data.path={work}/windows.csv", "data.label_column=species"],
     ("windows.csv line 2 is not utf-8 text (byte 0xe9)", "data.encoding=cp1252")),
    ("an identifier column", ["train", "data=tabular", "data.path={work}/named.csv", "data.label_column=species"],
     ("column 'name' holds 60 different texts, too many to be categories", "data.feature_columns=[...]")),
    ("label column typo", ["train", "data=tabular", "data.path={work}/flowers.csv", "data.label_column=specie"],
     ("no column 'specie'", "did you mean 'species'?")),
    ("ResNet on a table", ["train", "model=resnet", "data=tabular", "data.path={work}/flowers.csv",
                           "data.label_column=species"], ("model=resnet reads images or clips, not rows", "model=mlp")),
    ("LeNet on a table", ["train", "model=lenet", "data=tabular", "data.path={work}/flowers.csv",
                          "data.label_column=species"], ("model=lenet reads images or clips, not rows", "model=mlp")),
    ("GRU on a table", ["train", "model=gru", "data=tabular", "data.path={work}/flowers.csv",
                        "data.label_column=species"],
     ("model=gru reads texts, images, clips or signals, not rows (data=tabular gives rows of 3 features, 3 classes)",
      "choose a model that reads rows: model=encoder_classifier, model=mlp")),
    # Numbers to predict (task=regression)
    ("regression on classes", ["train", "task=regression"],
     ("task=regression learns from numbers, but data=digits gives classes", "data=signals, data=tabular")),
    ("regression on a named label", ["train", "task=regression", "data=tabular", "data.path={work}/flowers.csv",
                                     "data.label_column=species"],
     ("line 2, target 'species': 'setosa' is not a number", "train a classifier")),
    ("regression loss typo", ["train", "task=regression", "task.loss=hinge", "model=mlp", "data=tabular",
                              "data.path={work}/flowers.csv", "data.label_column=colour_code",
                              "data.feature_columns=[petal_length,petal_width]"],
     ("task.loss=hinge is invalid for regression", "mse, huber, mae")),
    ("numbers for a classifier", ["train", "data=tabular", "data.path={work}/flowers.csv",
                                  "data.label_column=colour_code", "data.feature_columns=[petal_length]",
                                  "data.targets=numbers"],
     ("task=classification learns from classes, but data=tabular gives numbers", "choose data with classes")),
    ("two label columns for a classifier", ["train", "data=tabular", "data.path={work}/flowers.csv",
                                            "data.label_column=[species,colour_code]"],
     ("data.label_column lists 2 columns, but classes come from one", "task=regression")),
    # Signals
    ("LeNet on signals", ["train", "model=lenet", "data=signals", "data.path={work}/signals.csv",
                          "data.label_column=label"],
     ("model=lenet reads images or clips, not signals (data=signals gives signals of 1 channel x 12 steps",
      "model=cnn1d")),
    ("1-D CNN on images", ["train", "model=cnn1d"], ("model=cnn1d reads signals, not images", "model=lenet")),
    ("signals without a label column", ["train", "model=cnn1d", "data=signals", "data.path={work}/signals.csv"],
     ("which column holds the label?", "data.label_column=NAME")),
    ("signals: channels that do not divide a row", ["train", "model=cnn1d", "data=signals",
                                                    "data.path={work}/signals.csv", "data.label_column=label",
                                                    "data.channels=5"],
     ("rows of 12 values cannot hold data.channels=5 channels", "divides 12")),
    ("signals: no such array", ["train", "model=cnn1d", "data=signals", "data.path={work}/signals.npz",
                                "data.input_key=inputs"], ("has no array 'inputs'", "its arrays are: x, y")),
    ("signals: pickled array", ["train", "model=cnn1d", "data=signals", "data.path={work}/objects.npy",
                                "data.labels_path={work}/labels.npy"], ("cannot read", "plain numeric arrays")),
    ("signals: shift past the length", ["train", "model=cnn1d", "data=signals", "data.path={work}/signals.npz",
                                        "data.augment.shift=2"],
     ("data.augment.shift=2 is invalid", "a fraction in [0, 1]")),
    # Images
    ("image folder missing", ["train", "data=image_folder", "data.root=nowhere"],
     ("data.root: no such directory 'nowhere'", "root/<class>/<image>")),
    ("image folder of one class", ["train", "data=image_folder", "data.root={work}/one_class_images"],
     ("found 1 class folder(s)", "at least two")),
    ("corrupt image", ["train", "data=image_folder", "data.root={work}/corrupt_images"],
     ("cannot read image", "data.skip_corrupt=true")),
    ("image size 0", ["train", "data=image_folder", "data.root={work}/images", "data.image_size=0"],
     ("data.image_size must be set", "data.image_size=224")),
    ("image size words", ["train", "data=image_folder", "data.root={work}/images", "data.image_size=large"],
     ("data.image_size=large is invalid", "auto")),
    ("two channels", ["train", "data=image_folder", "data.root={work}/images", "data.channels=2"],
     ("data.channels=2 is invalid", "1 (grayscale) or 3 (RGB)")),
    ("unknown class", ["train", "data=image_folder", "data.root={work}/images", "data.classes=[cat,owl]"],
     ("this data has no class 'owl'", "its classes are: cat, dog, fox")),
    ("MNIST not there", ["train", "data=mnist", "data.root={work}/empty"], ("MNIST", "data.download=true")),
    ("CIFAR-10 not there", ["train", "data=cifar10", "data.root={work}/empty"], ("CIFAR-10", "data.download=true")),
    # Texts
    ("MLP on text", ["train", "model=mlp", "data=text", "data.path={work}/texts.csv"],
     ("model=mlp reads images, rows, clips, signals or observations, not texts", "model=gru, model=lstm, model=rnn")),
    ("text column missing", ["train", "model=gru", "data=text", "data.path={work}/texts.csv", "data.text_column=body"],
     ("no column 'body'", "text")),
    ("empty label", ["train", "model=gru", "data=text", "data.path={work}/empty_label.csv"],
     ("line 3", "label")),
    # Clips
    ("audio folder missing", ["train", "model=lstm", "data=audio_folder", "data.root=nowhere"],
     ("data.root: no such directory 'nowhere'", "root/<label>/<clip>.wav")),
    ("audio of one label", ["train", "model=lstm", "data=audio_folder", "data.root={work}/one_label_audio"],
     ("found 1 label folder(s)", "at least two")),
    ("sample rate 10", ["train", "model=lstm", "data=audio_folder", "data.root={work}/audio", "data.sample_rate=10"],
     ("data.sample_rate=10", "at least 1000 Hz")),
    ("transcripts missing", ["train", "task=ctc", "model=gru", "model.pooling=none", "data=transcribed_audio",
                             "data.root={work}/audio"], ("transcripts.csv", "file,text")),
    # Generative models
    ("GAN task, classifier model", ["train", "task=gan", "model=lenet"],
     ("task=gan trains gan models, but model=lenet is a classifier model", "model=dcgan")),
    ("autoencoder task, classifier model", ["train", "task=autoencoder"],
     ("task=autoencoder trains autoencoder or vae models, but model=lenet is a classifier model",
      "model=autoencoder, model=conv_autoencoder, model=vae")),
    ("classifier task, autoencoder model", ["train", "model=autoencoder"],
     ("task=classification trains classifier models, but model=autoencoder is an autoencoder model", "model=lenet")),
    ("VAE task, plain autoencoder", ["train", "task=vae", "model=autoencoder"],
     ("task=vae trains vae models", "model=vae")),
    ("GAN both class- and self-conditioned", ["train", "task=gan", "model=dcgan", "model.conditional=true",
                                               "model.clusters=20"],
     ("model.clusters=20 is invalid with model.conditional=True", "model.clusters=null")),
    ("DCGAN on rows", ["train", "task=gan", "model=dcgan", "data=tabular", "data.path={work}/flowers.csv",
                       "data.label_column=species"], ("model=dcgan reads images, not rows", "choose data of images")),
    ("autoencoder loss", ["train", "task=autoencoder", "model=autoencoder", "task.loss=l1"],
     ("task.loss='l1' is not a reconstruction loss", "mse, bce")),
    ("negative noise", ["train", "task=autoencoder", "model=autoencoder", "task.noise=-1"],
     ("task.noise=-1", ">= 0")),
    ("bce on standardized rows", ["train", "task=autoencoder", "model=autoencoder", "task.loss=bce", "data=tabular",
                                  "data.path={work}/flowers.csv", "data.label_column=species"],
     ("task.loss=bce needs inputs in [0, 1], but rows are standardized", "task.loss=mse")),
    # The run directory
    ("resume: not a run", ["train", "resume={work}/empty"], ("is not a run directory", "resume=last")),
    ("resume: no runs yet", ["train", "resume=last"], ("no run under runs/ has checkpoints/last.ckpt", "resume=DIR")),
    ("resume: another lr", ["train", "resume={run}", "optimizer.lr=0.1"],
     ("'optimizer.lr=0.1' cannot change on resume", "trainer.max_epochs")),
    ("resume: a sweep", ["train", "-m", "resume={run}", "seed=1,2"], ("resume= continues one run", "without -m")),
    ("a directory that holds a run", ["train", "hydra.run.dir={run}"],
     ("already holds a run (status: finished)", "overwrite=true")),
    # eval
    ("eval: no run directory", ["eval", "run=runs/nowhere"], ("run directory not found", "run=")),
    ("eval: no checkpoint", ["eval", "ckpt=nowhere.ckpt"], ("checkpoint not found: nowhere.ckpt", ".ckpt")),
    ("eval: run and ckpt", ["eval", "run={run}", "ckpt={run}/checkpoints/best.ckpt"],
     ("give exactly one of run=DIR or ckpt=FILE", "run=")),
    ("eval: run without checkpoints", ["eval", "run={work}/empty"], ("has no checkpoints/best.ckpt", "train again")),
    ("eval: 0-byte checkpoint", ["eval", "ckpt={work}/empty.ckpt"], ("cannot read checkpoint", "truncated")),
    ("eval: text as checkpoint", ["eval", "ckpt={work}/flowers.csv"], ("cannot read checkpoint", "dltrain train")),
    ("eval: misspelt data key", ["eval", "run={run}", "data.spilt=val"],
     ("data.spilt is not a setting of the run's data", "did you mean 'data.split'?")),
    ("eval: unknown split", ["eval", "run={run}", "data.split=holdout"],
     ("unknown split 'holdout'", "train, val, test")),
    ("eval: checkpoint naming os.system", ["eval", "ckpt={work}/hostile.ckpt"],
     ("asks to build classes outside dltrain and torch: os.system", "trust=true")),
    ("eval: checkpoint naming torch.load", ["eval", "ckpt={work}/loader.ckpt"],
     ("model._target_=torch.load is not a model", "dltrain ls model")),
    ("eval: pickle payload", ["eval", "ckpt={work}/payload.ckpt"], ("cannot read checkpoint", "dltrain train")),
    # export
    ("export: unknown format", ["export", "run={run}", "format=tflite"],
     ("unknown export format 'tflite'", "onnx, torchscript, state_dict, all")),
    ("export: negative atol", ["export", "run={run}", "atol=-1"], ("out of range", "atol >= 0")),
    ("export: checkpoint naming os.system", ["export", "ckpt={work}/hostile.ckpt"],
     ("asks to build classes outside dltrain and torch: os.system", "trust=true")),
    # predict
    ("predict: a CSV into an image model", ["predict", "run={run}", "input={work}/flowers.csv"],
     ("flowers.csv is not one of the images this model reads", ".png")),
    ("predict: missing input", ["predict", "run={run}", "input=nothing.png"], ("nothing.png", "input=")),
    ("predict: no source", ["predict", "input={work}/flowers.csv"], ("give exactly one of", "run=")),
    ("predict: pickle payload", ["predict", "ckpt={work}/payload.ckpt", "input={work}/flowers.csv"],
     ("cannot read checkpoint", "dltrain train")),
    # reinforcement learning: an environment in place of data
    ("DQN on image data", ["train", "task=dqn", "data=mnist"],
     ("task=dqn learns from an environment, not from data (data=mnist)", "env=cartpole")),
    ("DQN without an environment", ["train", "task=dqn"], ("task=dqn learns from an environment", "env=cartpole")),
    ("an environment for a classifier", ["train", "env=cartpole"],
     ("env=cartpole is an environment, which only task=dqn learns from", "task=dqn")),
    ("DQN on continuous actions", ["train", "task=dqn", "env=gymnasium", "env.id=Pendulum-v1"],
     ("Pendulum-v1 has continuous actions", "env=cartpole")),
    ("DQN on an unknown environment", ["train", "task=dqn", "env=gymnasium", "env.id=CartPol-v1"],
     ("unknown gymnasium environment env.id=CartPol-v1", "did you mean 'CartPole-v1'?")),
    ("DQN with a CNN", ["train", "task=dqn", "env=cartpole", "model=lenet"],
     ("model=lenet reads images or clips, not observations (env=cartpole gives", "model=mlp")),
    ("DQN on two processes", ["train", "task=dqn", "env=cartpole", "trainer.accelerator=cpu", "trainer.devices=2",
                              "+trainer.strategy=ddp"], ("DQNTask trains in one process", "trainer.devices=1")),
    ("DQN solved return not a number", ["train", "task=dqn", "env=cartpole", "env.solved_return=high"],
     ("env.solved_return='high' is invalid", "auto")),
    ("DQN gamma 2", ["train", "task=dqn", "env=cartpole", "task.gamma=2"], ("task.gamma=2 is invalid", "[0, 1]")),
    # Dense vision
    ("segmentation: no data root", ["train", "task=segmentation", "model=unet", "data=segmentation_folder",
                                    "data.root=nowhere"],
     ("data.root: no such directory 'nowhere'", "images/ and masks/")),
    ("segmentation on class labels", ["train", "task=segmentation", "model=unet"],
     ("task=segmentation learns from masks, but data=digits gives classes", "data=segmentation_folder")),
    ("segmentation with a classifier", ["train", "task=segmentation", "data=segmentation_folder",
                                        "data.root={work}/scenes"],
     ("task=segmentation trains segmenter models, but model=lenet is a classifier model", "model=unet")),
    ("detection: rotated boxes", ["train", "task=detection", "model=fcos", "data=yolo", "data.root=x",
                                  "+data.augment.rotation=10"],
     ("data.augment.rotation is not offered for boxes", "flip and scale")),
    ("detection: unknown backbone", ["train", "task=detection", "model=fcos", "model.backbone=vgg", "data=yolo",
                                     "data.root={work}/boxes"], ("unknown backbone 'vgg'", "check the model settings")),
    ("transfer: torchvision has no such detector", ["transfer", "source=torchvision", "model=fcos",
                                                    "model.weights=COCO_V1", "task=detection", "data=yolo",
                                                    "data.root={work}/boxes"],
     ("torchvision publishes no weights for fcos_resnet18_fpn", "model.backbone=resnet50")),
    ("detection: UNet", ["train", "task=detection", "model=unet", "data=yolo", "data.root={work}/boxes"],
     ("task=detection trains detector models, but model=unet is a segmenter model", "model=fcos")),
    ("eval: episodes on a classifier", ["eval", "run={run}", "episodes=5"],
     ("episodes= and record= replay an agent's policy", "task=dqn")),
    # transfer
    ("transfer: no source", ["transfer", "source=runs/nowhere", "data.classes=[0,1]"],
     ("run directory not found: runs/nowhere", "source=RUN_DIR")),
    ("transfer: images onto a table", ["transfer", "source={run}", "data=tabular", "data.path={work}/flowers.csv",
                                       "data.label_column=species"], ("a model of images", "rows")),
    ("transfer: unfreeze at 0", ["transfer", "source={run}", "unfreeze_at_epoch=0"],
     ("unfreeze_at_epoch=0 is invalid", "epoch >= 1")),
    ("transfer: lr scale 0", ["transfer", "source={run}", "backbone_lr_scale=0"],
     ("backbone_lr_scale=0 is invalid", "a factor above 0")),
    ("transfer: checkpoint naming os.system", ["transfer", "source={work}/hostile.ckpt"],
     ("asks to build classes outside dltrain and torch: os.system", "trust=true")),
]


class Payload:
    """Unpickling this runs os.system: what a crafted checkpoint would do under weights_only=False."""

    def __reduce__(self):
        import os

        return os.system, ("touch PAYLOAD_RAN",)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """The fabricated inputs the rows read, each broken in one way (or good, beside a broken setting)."""
    work = tmp_path_factory.mktemp("inputs")
    header = "petal_length,petal_width,colour_code,species"
    good = [f"{1 + k % 3 * 2}.{k % 10},{k % 3}.5,{k % 7},{['setosa', 'versicolor', 'virginica'][k % 3]}"
            for k in range(60)]
    files = {"flowers.csv": [header, *good], "header_only.csv": [header],
             "one_class.csv": [header, *(row.rsplit(",", 1)[0] + ",setosa" for row in good)],
             "nan.csv": [header, good[0], "1.2,nan,3,setosa", *good[2:]],
             "inf.csv": [header, *good[:2], "inf,0.5,3,setosa", *good[3:]],
             "words.csv": [header, "long,0.5,3,setosa", *good[1:]]}
    files["named.csv"] = [f"name,{header}", *(f"plant{k},{row}" for k, row in enumerate(good))]
    for name, lines in files.items():
        (work / name).write_text("\n".join(lines) + "\n")
    (work / "windows.csv").write_bytes("\n".join([header, "1.5,0.2,3,sétosa", *good]).encode("cp1252"))
    (work / "flowers.xlsx").write_bytes(b"PK\x03\x04\x14\x00\x06\x00" + bytes(200))
    write_image_tree(work / "images", per_class=10, size=16)
    write_image_tree(work / "one_class_images", classes=("cat",), per_class=4, size=16)
    write_image_tree(work / "corrupt_images", per_class=10, size=16)
    (work / "corrupt_images" / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    write_texts(work / "texts.csv", topic_texts(30))
    (work / "empty_label.csv").write_text("text,label\nthe match was won,sport\nthe vote was close,\n")
    for label in ("yes", "no"):
        for index in range(4):
            tone = np.sin(np.linspace(0, 200 * (index + 2), 8000))
            write_wav(work / "audio" / label / f"{index}.wav", tone, 8000)
            if label == "yes":
                write_wav(work / "one_label_audio" / label / f"{index}.wav", tone, 8000)
    write_shapes(work / "scenes", "segmentation", 8, size=24)
    write_shapes(work / "boxes", "yolo", 8, size=24)
    signals = np.random.default_rng(0).normal(size=(40, 12)).astype(np.float32)
    (work / "signals.csv").write_text("\n".join([",".join([*(f"t{step}" for step in range(12)), "label"]),
                                                 *(",".join([*(f"{value:.3f}" for value in row), str(index % 2)])
                                                   for index, row in enumerate(signals))]) + "\n")
    np.savez(work / "signals.npz", x=signals, y=np.arange(40) % 2)
    np.save(work / "objects.npy", np.array([{"a": 1}] * 40, dtype=object), allow_pickle=True)
    np.save(work / "labels.npy", np.arange(40) % 2)
    (work / "empty").mkdir()
    (work / "empty.ckpt").write_bytes(b"")
    (work / "payload.ckpt").write_bytes(pickle.dumps(Payload()))
    return work


@pytest.fixture(scope="module")
def trained(work: Path, tmp_path_factory) -> Path:
    """A one-batch LeNet-5 run on digits, and two checkpoints made from it that ask to build what they must not."""
    folder = tmp_path_factory.mktemp("trained")
    result = run_in_process("train", "debug=smoke", "hydra.run.dir=run", cwd=folder)
    assert result.returncode == 0, result.stderr[-2000:]
    run = folder / "run"
    checkpoint = torch.load(run / "checkpoints" / "best.ckpt", weights_only=True)
    for name, target in (("hostile.ckpt", "os.system"), ("loader.ckpt", "torch.load")):
        checkpoint["dltrain"]["config"]["model"]["_target_"] = target
        torch.save(checkpoint, work / name)
    return run


@pytest.mark.parametrize(("arguments", "fragments"), [case[1:] for case in CATALOGUE],
                         ids=[case[0] for case in CATALOGUE])
def test_every_bad_input_gets_one_line_and_exit_code_2(work: Path, trained: Path, tmp_path: Path, arguments,
                                                      fragments):
    before = sorted(path.name for path in trained.iterdir())
    arguments = [argument.format(work=work, run=trained) for argument in arguments]
    result = run_in_process(*arguments, cwd=tmp_path)
    assert_user_error(result, *fragments)
    assert not any(tmp_path.iterdir()), "left behind: " + ", ".join(path.name for path in tmp_path.iterdir())
    assert sorted(path.name for path in trained.iterdir()) == before
    assert not (work / "PAYLOAD_RAN").exists()


def test_the_catalogue_covers_every_command_and_kind_of_data():
    commands = {case[1][0] for case in CATALOGUE}
    assert commands >= {"train", "eval", "export", "predict", "transfer", "ls"}
    data = {argument.split("=", 1)[1] for case in CATALOGUE for argument in case[1] if argument.startswith("data=")}
    assert data >= {"tabular", "image_folder", "mnist", "cifar10", "text", "audio_folder", "transcribed_audio"}
    assert len(CATALOGUE) >= 45


def test_the_real_process_keeps_the_promise(tmp_path: Path, work: Path):
    """What the in-process rows stand for: the installed command, its exit code and its stderr (here a GRU on a
    CSV, which once ended in an IndexError traceback after the model summary)."""
    result = run_in_process("train", "model=gru", "data=tabular", f"data.path={work / 'flowers.csv'}",
                            "data.label_column=species", cwd=tmp_path)
    assert_user_error(result, "model=gru reads texts, images, clips or signals, not rows", "model=mlp")
    assert result.stdout == "" and not any(tmp_path.iterdir())


def test_debug_env_shows_the_traceback(tmp_path: Path):
    result = run_dltrain("eval", "run=runs/nowhere", cwd=tmp_path, env={"DLTRAIN_DEBUG": "1"})
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_a_pickle_payload_in_a_checkpoint_never_runs(work: Path, tmp_path: Path):
    run_in_process("eval", f"ckpt={work / 'payload.ckpt'}", cwd=tmp_path)
    assert not (tmp_path / "PAYLOAD_RAN").exists() and not (work / "PAYLOAD_RAN").exists()


def test_gpu_requested_without_one(tmp_path: Path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = run_in_process("train", "debug=smoke", "trainer=gpu", cwd=tmp_path)
    assert_user_error(result, "cannot set up the trainer", "accelerator")

