"""The model plug-in interface: what a model class subclasses and uses while it runs.

``genq.models.registry`` (built-ins plus the config's ``[models.NAME]`` tables) and
``genq.models.aliases`` (other names for a model, such as a vendor's slug) are the server's
side of it. The built-in demo models live in ``genq.demos``; writers and fetchers of media
files, for models to use, in ``genq.media``.
"""

from genq.models.base import (
    IMAGE_REFERENCE,
    InputError,
    Model,
    ModelOptions,
    Price,
    RunContext,
    Stopped,
    Usage,
)

__all__ = [
    "IMAGE_REFERENCE",
    "InputError",
    "Model",
    "ModelOptions",
    "Price",
    "RunContext",
    "Stopped",
    "Usage",
]
