"""dltrain: a command-line deep-learning trainer driven by Hydra configs and run by PyTorch Lightning.

Importing this package must stay cheap: `dltrain --help` and `dltrain ls` never import torch.
"""

__version__ = "0.1.0"
