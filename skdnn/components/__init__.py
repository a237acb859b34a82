"""Named building blocks: one registry per family (activations, optimizers, ...)."""
