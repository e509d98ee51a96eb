"""The demo models' procedural painter (sizes and seeds: ``genq.models.inputs``).

The painter is plain numpy so that the image model works with the core install and the video
model can animate the very same kind of picture.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

_F = np.float32


class Canvas:
    """A picture being painted: the pixel grid and the wave fields summed so far."""

    def __init__(self, width: int, height: int) -> None:
        scale = 2.0 / min(width, height)
        # Pixel centres with the shorter side spanning [-1, 1], so patterns are not stretched;
        # 1-D so that separable terms cost an outer product instead of a full-size sine.
        self.u = (np.arange(width, dtype=_F) - _F((width - 1) / 2)) * _F(scale)
        self.v = (np.arange(height, dtype=_F) - _F((height - 1) / 2)) * _F(scale)
        self.warp_x = np.zeros((height, width), dtype=_F)
        self.warp_y = np.zeros((height, width), dtype=_F)
        self.field = np.zeros((height, width), dtype=_F)
        # Reused scratch space: a fresh temporary per operation costs more in page faults
        # than the arithmetic itself at these sizes (several times over in some virtual machines).
        self.scratch = np.empty((height, width), dtype=_F)
        self.scratch2 = np.empty((height, width), dtype=_F)


class Painter:
    """A procedural picture in the spirit of domain-warped noise: two sums of sine waves push
    the coordinates around, a third sum is read at the pushed coordinates and coloured with a
    cosine palette, then shaded as if it were a glossy surface.

    Everything random is drawn here, so painting is a pure function of size, layer count and
    time, and the frames of a video flow smoothly into each other. Wave frequencies grow
    geometrically from broad folds to fine ripples whatever the layer count, so more layers
    refine the picture rather than add noise.
    """

    def __init__(self, rng: np.random.Generator, layers: int, detail: float = 28.0) -> None:
        self.layers = layers
        growth = (detail / 1.2) ** (1 / max(layers - 1, 1))
        # Three waves per layer: two for the warp, one for the field.
        base = 1.2 * growth ** np.arange(layers)[:, np.newaxis]
        freq = base * rng.uniform(0.8, 1.25, (layers, 3))
        angle = rng.uniform(0, 2 * math.pi, (layers, 3))
        self._kx: list[list[float]] = (freq * np.cos(angle)).tolist()
        self._ky: list[list[float]] = (freq * np.sin(angle)).tolist()
        self._phase: list[list[float]] = rng.uniform(0, 2 * math.pi, (layers, 3)).tolist()
        speed = rng.uniform(0.4, 1.2, (layers, 3)) * rng.choice([-1.0, 1.0], (layers, 3))
        self._speed: list[list[float]] = speed.tolist()
        # Finer waves are fainter, as in natural textures; the total energy is the same for
        # any layer count, so contrast and warping do not depend on the number of steps.
        amp = base[:, 0] ** -0.9
        self._amp: list[float] = (amp / np.sqrt(np.sum(amp**2))).tolist()
        self._warp = float(rng.uniform(0.45, 0.95))
        # Cosine palette: offset + amplitude * cos(2 pi (frequency * t + phase)), per channel.
        self._palette = [
            (float(a), float(b), float(c), float(d))
            for a, b, c, d in zip(
                rng.uniform(0.3, 0.6, 3),
                rng.uniform(0.3, 0.5, 3),
                rng.uniform(0.6, 1.6, 3),
                rng.uniform(0, 1, 3),
                strict=True,
            )
        ]

    def paint_layer(self, canvas: Canvas, layer: int, time: float = 0.0) -> None:
        """Add layer ``layer`` of the waves, at ``time`` seconds, to ``canvas``."""
        u, v = canvas.u, canvas.v
        kx, ky, amp = self._kx[layer], self._ky[layer], _F(self._amp[layer])
        phase = [p + s * time for p, s in zip(self._phase[layer], self._speed[layer], strict=True)]
        tmp = canvas.scratch
        for wave, target in ((0, canvas.warp_x), (1, canvas.warp_y)):
            # sin(a + b) = sin a cos b + cos a sin b: a full-size sine from two 1-D ones.
            a = u * _F(kx[wave])
            b = v * _F(ky[wave]) + _F(phase[wave])
            np.multiply((amp * np.sin(b))[:, None], np.cos(a), out=tmp)
            target += tmp
            np.multiply((amp * np.cos(b))[:, None], np.sin(a), out=tmp)
            target += tmp
        # The field wave is read at coordinates pushed by the warp sums: not separable.
        warp = _F(self._warp)
        arg = np.multiply(canvas.warp_x, warp, out=canvas.scratch2)
        arg += u
        arg *= _F(kx[2])
        np.multiply(canvas.warp_y, warp, out=tmp)
        tmp += v[:, None]
        tmp *= _F(ky[2])
        arg += tmp
        arg += _F(phase[2])
        np.sin(arg, out=arg)
        arg *= amp
        canvas.field += arg

    def finish(self, canvas: Canvas) -> Any:
        """Colour and shade the canvas: an RGB ``uint8`` array of shape (height, width, 3)."""
        t = canvas.field * _F(0.3) + _F(0.5)
        t += np.sqrt(canvas.warp_x**2 + canvas.warp_y**2) * _F(0.2)
        height, width = t.shape
        rgb = np.empty((height, width, 3), dtype=_F)
        for ch, (a, b, c, d) in enumerate(self._palette):
            rgb[..., ch] = _F(a) + _F(b) * np.cos(_F(2 * math.pi * c) * t + _F(2 * math.pi * d))
        # Light from the top left on the field seen as a height map: a satin sheen.
        grad_y, grad_x = np.gradient(canvas.field)
        light = _F(1) - _F(0.15 * min(width, height)) * (_F(0.6) * grad_x + _F(0.8) * grad_y)
        vignette = _F(1) - _F(0.2) * (canvas.u**2 + canvas.v[:, None] ** 2)
        rgb *= (np.clip(light, 0.7, 1.3) * np.clip(vignette, 0.5, 1))[..., np.newaxis]
        return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)

    def render(self, width: int, height: int, time: float = 0.0) -> Any:
        """The whole picture at ``time`` seconds."""
        canvas = Canvas(width, height)
        for layer in range(self.layers):
            self.paint_layer(canvas, layer, time)
        return self.finish(canvas)
