"""LightningDataModules, one file per source. Each knows its shapes and classes (`spec`, `class_names`)."""
