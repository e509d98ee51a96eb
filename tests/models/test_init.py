"""The plug-in interface: what ``genq.models`` exports for model authors."""

from __future__ import annotations

import types

import genq.models
import genq.models.base

PLUGIN_API = {
    "IMAGE_REFERENCE",
    "InputError",
    "Model",
    "ModelOptions",
    "Price",
    "RunContext",
    "Stopped",
    "Usage",
}


def test_models_all_is_the_plugin_api() -> None:
    """genq.models.__all__ names the plug-in interface, once each, and nothing else public."""
    assert set(genq.models.__all__) == PLUGIN_API
    assert len(set(genq.models.__all__)) == len(genq.models.__all__)
    public = {
        name
        for name, value in vars(genq.models).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == PLUGIN_API


def test_models_exports_the_classes_the_runtime_uses() -> None:
    """Each exported name is the very object genq.models.base defines, so a subclass of
    genq.models.Model is what the registry loads."""
    for name in genq.models.__all__:
        assert getattr(genq.models, name) is getattr(genq.models.base, name)
