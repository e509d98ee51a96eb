"""genq: asynchronous inference for generative media models."""

__version__ = "0.1.0"
