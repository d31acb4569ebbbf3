"""Plain torch.nn.Modules, one file per family. Every model takes `num_classes`, `in_channels` and
`input_size` from the data's spec, so any model meets any data of a compatible shape."""
