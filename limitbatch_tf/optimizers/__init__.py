"""optimizers subpackage."""
