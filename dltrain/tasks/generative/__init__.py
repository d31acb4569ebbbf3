"""Learning without labels: autoencoders (deep, denoising, variational) rebuild their inputs; the pictures they
leave in the run directory show how well."""
