"""HTTP surfaces: the native API, signed file links, health; each a thin layer on the service."""
