"""LightningModules, one per learning problem; each owns its loss, metrics and logging."""
