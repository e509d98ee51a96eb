"""Model runtimes: diffusers, transformers and Python plug-ins."""
