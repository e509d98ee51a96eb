"""HTTP surfaces: the native API, signed file links, health; each a thin layer on the service."""

# Registers the ``rest`` path parameter before any route uses it.
from genq.http import paths as paths
