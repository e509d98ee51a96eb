"""The input schemas MindVideo documents for its model slugs, with its ``x-playground`` UI
hints."""

from __future__ import annotations

from typing import Any

#: The input schema MindVideo documents for ``qwen-image-2-0-pro``.
QWEN_IMAGE_2_PRO_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["prompt"],
    "additionalProperties": False,
    "properties": {
        "prompt": {
            "type": "string",
            "title": "Prompt",
            "description": "Text prompt for image generation.",
            "minLength": 1,
            "maxLength": 800,
            "x-playground": {"widget": "textarea", "rows": 6},
        },
        "negative_prompt": {
            "type": "string",
            "title": "Negative prompt",
            "description": "What should not appear in the image.",
            "maxLength": 500,
        },
        "size": {
            "type": "string",
            "title": "Aspect ratio",
            "enum": ["1:1", "4:3", "3:4", "16:9", "9:16", "3:2", "2:3"],
            "default": "1:1",
        },
        "resolution": {
            "type": "string",
            "title": "Resolution",
            "enum": ["1K", "2K"],
            "default": "1K",
        },
        "n": {"type": "integer", "title": "Images", "minimum": 1, "maximum": 6, "default": 1},
        "image_urls": {
            "type": "array",
            "title": "Reference images",
            "description": "Public URLs of reference images (no base64 data).",
            "items": {"type": "string", "format": "uri"},
            "minItems": 1,
            "x-playground": {
                "widget": "file-upload",
                "accept": "image/*",
                "multiple": True,
                "uploadKind": "image",
                "advanced": True,
            },
        },
    },
}
