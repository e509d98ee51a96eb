"""Procedural ambient sound, a block at a time: the kinds of sound a prompt can name, the
ranges their picks are drawn from, and the ``Soundscape`` that renders one pick.

Plain numpy; a generator seeded by the caller makes every pick, so the same seed gives the
same samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Level of the finished sound before the soft limiter, as RMS of full scale (about -18 dBFS).
_TARGET_RMS = 0.125
#: The limiter's ceiling: no sample reaches it, so nothing clips.
_CEILING = 0.95
_FADE_SECONDS = 1.5
#: Seconds between the points at which the slow envelopes are computed; samples between
#: them are interpolated, which costs far less than a sine per sample.
_ENVELOPE_STEP = 0.01


@dataclass(frozen=True)
class _Range:
    low: float
    high: float

    def pick(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.low, self.high))


@dataclass(frozen=True)
class Character:
    """Ranges the picks of a kind of sound are drawn from."""

    tilt: _Range  # spectral slope of the bed: 0 white, 1 pink, 2 brown
    cutoff: _Range  # Hz, where the bed rolls off
    gust_depth: _Range  # 0 steady .. 1 comes and goes
    gust_rate: _Range  # Hz, how fast the gusts change
    swell: _Range  # 0 none .. 1 a slow wave-like rise and fall
    band_level: _Range  # loudness of a resonant band riding on the gusts
    band_centre: _Range  # Hz
    tone_level: _Range
    drop_rate: _Range  # drops or crackles per second
    drop_decay: _Range  # seconds
    drop_level: _Range


_DEFAULT = Character(
    tilt=_Range(0.6, 1.6),
    cutoff=_Range(1500, 7000),
    gust_depth=_Range(0.2, 0.7),
    gust_rate=_Range(0.1, 0.6),
    swell=_Range(0.0, 0.5),
    band_level=_Range(0.0, 0.6),
    band_centre=_Range(250, 1500),
    tone_level=_Range(0.05, 0.3),
    drop_rate=_Range(0, 8),
    drop_decay=_Range(0.003, 0.02),
    drop_level=_Range(0.2, 0.8),
)

#: Words of the prompt that lean the picks, checked in this order; the first found wins.
_CHARACTERS: tuple[tuple[frozenset[str], Character], ...] = (
    (
        frozenset({"rain", "rainy", "raining", "drizzle", "shower", "storm", "thunderstorm"}),
        Character(
            tilt=_Range(0.2, 0.6),
            cutoff=_Range(5000, 8000),
            gust_depth=_Range(0.1, 0.3),
            gust_rate=_Range(0.1, 0.4),
            swell=_Range(0.0, 0.1),
            band_level=_Range(0.0, 0.2),
            band_centre=_Range(1500, 3000),
            tone_level=_Range(0.0, 0.05),
            drop_rate=_Range(20, 60),
            drop_decay=_Range(0.004, 0.012),
            drop_level=_Range(1.5, 3.0),
        ),
    ),
    (
        frozenset({"wind", "windy", "breeze", "gale", "gust", "gusts", "blizzard"}),
        Character(
            tilt=_Range(1.2, 1.8),
            cutoff=_Range(1500, 4000),
            gust_depth=_Range(0.5, 0.9),
            gust_rate=_Range(0.1, 0.4),
            swell=_Range(0.0, 0.2),
            band_level=_Range(0.6, 1.2),
            band_centre=_Range(300, 900),
            tone_level=_Range(0.0, 0.08),
            drop_rate=_Range(0, 0),
            drop_decay=_Range(0.005, 0.01),
            drop_level=_Range(0, 0),
        ),
    ),
    (
        frozenset({"sea", "ocean", "wave", "waves", "surf", "beach", "shore", "tide"}),
        Character(
            tilt=_Range(0.8, 1.3),
            cutoff=_Range(2500, 6000),
            gust_depth=_Range(0.1, 0.3),
            gust_rate=_Range(0.05, 0.2),
            swell=_Range(0.7, 0.95),
            band_level=_Range(0.2, 0.5),
            band_centre=_Range(400, 1200),
            tone_level=_Range(0.0, 0.06),
            drop_rate=_Range(0, 3),
            drop_decay=_Range(0.002, 0.006),
            drop_level=_Range(0.1, 0.3),
        ),
    ),
    (
        frozenset({"fire", "campfire", "fireplace", "crackle", "crackling", "embers", "burning"}),
        Character(
            tilt=_Range(1.4, 1.9),
            cutoff=_Range(1000, 3000),
            gust_depth=_Range(0.2, 0.5),
            gust_rate=_Range(0.2, 0.8),
            swell=_Range(0.0, 0.1),
            band_level=_Range(0.0, 0.2),
            band_centre=_Range(150, 400),
            tone_level=_Range(0.0, 0.04),
            drop_rate=_Range(6, 20),
            drop_decay=_Range(0.001, 0.004),
            drop_level=_Range(1.5, 3.0),
        ),
    ),
    (
        frozenset({"drone", "space", "hum", "pad", "music", "night", "dream", "calm", "ambient"}),
        Character(
            tilt=_Range(1.3, 1.9),
            cutoff=_Range(800, 2500),
            gust_depth=_Range(0.2, 0.5),
            gust_rate=_Range(0.05, 0.2),
            swell=_Range(0.1, 0.4),
            band_level=_Range(0.0, 0.3),
            band_centre=_Range(200, 600),
            tone_level=_Range(0.5, 0.9),
            drop_rate=_Range(0, 0),
            drop_decay=_Range(0.005, 0.01),
            drop_level=_Range(0, 0),
        ),
    ),
)

# Intervals the soft tones are drawn from (a major pentatonic over two octaves): any few of
# them sound consonant together.
_INTERVALS = np.array([1, 9 / 8, 5 / 4, 3 / 2, 5 / 3, 2, 9 / 4, 5 / 2, 3])


def character_of(prompt: str) -> Character:
    """The ranges to pick from: those of the first kind of sound the prompt names."""
    words = set(prompt.lower().replace(",", " ").replace(".", " ").split())
    for names, character in _CHARACTERS:
        if words & names:
            return character
    return _DEFAULT


class Soundscape:
    """A stationary ambient sound, rendered a block at a time.

    Noise is shaped in the frequency domain, a segment of two blocks at a time; the segments
    overlap by half and are joined with a sine window, whose squares sum to one, so the noise
    keeps the same loudness across the joins. Everything slow (gusts, swell, the tones' phases
    and swells) is a function of the absolute sample index, so blocks join without a seam.
    """

    def __init__(
        self, rng: np.random.Generator, character: Character, sample_rate: int, total: int
    ) -> None:
        self.rng = rng
        self.rate = sample_rate
        self.total = total
        self.block = sample_rate
        c = character
        self.tilt = c.tilt.pick(rng)
        self.cutoff = c.cutoff.pick(rng)
        self.gust_depth = c.gust_depth.pick(rng)
        self.swell = c.swell.pick(rng)
        self.band_level = c.band_level.pick(rng)
        self.band_centre = c.band_centre.pick(rng)
        self.tone_level = c.tone_level.pick(rng)
        self.drop_rate = c.drop_rate.pick(rng)
        self.drop_decay = c.drop_decay.pick(rng)
        self.drop_level = c.drop_level.pick(rng)

        seconds = total / sample_rate
        # Gusts: a smooth random curve in [0, 1] through points gust_rate apart.
        gust_rate = c.gust_rate.pick(rng)
        self._gust_step = 1 / gust_rate
        self._gust_values = rng.uniform(0, 1, math.ceil(seconds * gust_rate) + 2)
        swell_period = float(rng.uniform(6, 12))
        swell_phase = float(rng.uniform(0, 2 * math.pi))

        tones = int(rng.integers(2, 5))
        base = float(rng.uniform(90, 220))
        tone_freq = base * rng.choice(_INTERVALS, tones, replace=False)
        self._tone_phase = rng.uniform(0, 2 * math.pi, tones)
        tone_lfo = rng.uniform(0.03, 0.15, tones)
        tone_lfo_phase = rng.uniform(0, 2 * math.pi, tones)

        # The slow envelopes, on a coarse grid that covers the whole sound.
        self._grid = np.arange(math.ceil(seconds / _ENVELOPE_STEP) + 2) * _ENVELOPE_STEP
        envelope = 1 - self.gust_depth * self._gust(self._grid)
        if self.swell:
            wave = 0.5 + 0.5 * np.sin(2 * np.pi * self._grid / swell_period + swell_phase)
            envelope *= 1 - self.swell + self.swell * wave**2
        self._envelope = envelope
        self._tone_swells = self.tone_level * (
            0.5 + 0.5 * np.sin(2 * np.pi * np.outer(tone_lfo, self._grid) + tone_lfo_phase[:, None])
        )
        # A tone over a block is a fixed pattern turned by the phase it has at the block's
        # start: rotating the pattern is a multiplication instead of a sine per sample.
        self._tone_step = 2 * np.pi * tone_freq / sample_rate
        self._tone_pattern = np.exp(1j * np.outer(self._tone_step, np.arange(self.block)))

        length = 2 * self.block
        self._freqs = np.fft.rfftfreq(length, 1 / sample_rate)
        self._bed = self._normalised(self._bed_shape())
        self._window = np.sin(np.pi * (np.arange(length) + 0.5) / length)
        self._previous = self._segment(0)
        self._drop_carry = np.zeros(0)

    def _normalised(self, magnitude: np.ndarray) -> np.ndarray:
        # A complex Gaussian spectrum times ``magnitude`` gives, after irfft of length n,
        # samples of variance about 4 * sum(magnitude**2) / n**2: scale that to one.
        length = 2 * self.block
        return magnitude * (length / (2 * math.sqrt(float(np.sum(magnitude**2)) or 1.0)))

    def _bed_shape(self) -> np.ndarray:
        f = np.maximum(self._freqs, 1.0)
        slope = (f / 100) ** (-self.tilt / 2)
        lowpass = 1 / np.sqrt(1 + (f / self.cutoff) ** 4)
        highpass = (f / 40) ** 2 / (1 + (f / 40) ** 2)  # no rumble below hearing
        return slope * lowpass * highpass

    def _band_shape(self, centre: float) -> np.ndarray:
        octaves = np.log2(np.maximum(self._freqs, 1.0) / centre)
        return np.exp(-0.5 * (octaves / 0.18) ** 2)

    def _segment(self, centre: int) -> np.ndarray:
        """Two blocks of noise centred on sample ``centre``: the bed plus the band, which
        gusts push up in pitch."""
        gust = float(self._gust(np.array([centre / self.rate]))[0])
        size = self._freqs.size
        spectrum = self.rng.standard_normal(size) + 1j * self.rng.standard_normal(size)
        shape = self._bed
        if self.band_level > 0:
            band = self._normalised(self._band_shape(self.band_centre * 2 ** (gust - 0.5)))
            shape = shape + self.band_level * (0.3 + gust) * band
        return np.fft.irfft(spectrum * shape, 2 * self.block) * self._window

    def _gust(self, seconds: np.ndarray) -> np.ndarray:
        """The gust strength in [0, 1] at each time: cosine interpolation between random
        points, smooth and still cheap."""
        position = seconds / self._gust_step
        index = np.minimum(position.astype(np.int64), self._gust_values.size - 2)
        ease = (1 - np.cos(np.pi * (position - index))) / 2
        return self._gust_values[index] * (1 - ease) + self._gust_values[index + 1] * ease

    def render(self, start: int) -> np.ndarray:
        """The block of samples that begins at sample ``start``."""
        count = min(self.block, self.total - start)
        t = (start + np.arange(count)) / self.rate

        # Segments overlap by a block: this block is the second half of the previous one and
        # the first half of one centred on the next block's start.
        current = self._segment(start + self.block)
        noise = (self._previous[self.block :] + current[: self.block])[:count]
        self._previous = current
        sound = noise * np.interp(t, self._grid, self._envelope)

        if self.tone_level:
            turn = np.exp(1j * (self._tone_step * start + self._tone_phase))
            waves = (self._tone_pattern[:, :count] * turn[:, None]).imag
            for wave, swells in zip(waves, self._tone_swells, strict=True):
                sound += wave * np.interp(t, self._grid, swells)

        sound += self._drops(count)
        return sound

    def _drops(self, count: int) -> np.ndarray:
        """Short decaying clicks of noise at random moments; a tail that runs past the block
        is carried into the next one."""
        length = max(1, int(self.drop_decay * 5 * self.rate))
        out = np.zeros(count + length)
        out[: self._drop_carry.size] += self._drop_carry
        number = int(self.rng.poisson(self.drop_rate * count / self.rate))
        if number and self.drop_level:
            at = self.rng.integers(0, count, number)
            gains = self.drop_level * self.rng.uniform(0.2, 1.0, number) ** 2
            decay = np.exp(-np.arange(length) / (self.drop_decay * self.rate))
            bursts = self.rng.standard_normal((number, length)) * decay * gains[:, None]
            np.add.at(out, at[:, None] + np.arange(length), bursts)
        self._drop_carry = out[count:]
        return out[:count]


def finished(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Fade in and out, bring to a steady level and limit softly, so nothing clips."""
    fade = min(int(_FADE_SECONDS * sample_rate), samples.size // 4)
    if fade:
        ramp = (1 - np.cos(np.pi * (np.arange(fade) + 0.5) / fade)) / 2
        samples[:fade] *= ramp
        samples[-fade:] *= ramp[::-1]
    rms = float(np.sqrt(np.mean(np.square(samples), dtype=np.float64)))
    if rms > 0:
        samples *= _TARGET_RMS / rms
    # Nearly linear at this level; only rare peaks are bent under the ceiling.
    return (_CEILING * np.tanh(samples / _CEILING)).astype(np.float32)
