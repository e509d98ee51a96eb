"""The built-in demo models: they run on a CPU with no downloaded weights, and use the plug-in
interface (``genq.models``) exactly as users' own models do."""
