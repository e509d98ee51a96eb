"""``demo-speech``: real text-to-speech with eSpeak NG, standing in for a speech model.

eSpeak NG comes from the ``espeakng-loader`` wheel, which ships the shared library and its
voice data but no Python API for it (and no maintained binding targets that library), so this
module declares the handful of C calls it needs with ctypes. The library keeps global state:
it is initialised once per process, which suits a worker that runs one job at a time.
"""

from __future__ import annotations

import ctypes
import re
import threading
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from genq.demos.inputs import format_property, input_object, prompt_property
from genq.media.encode import AUDIO_FORMATS, write_audio
from genq.models.base import InputError, Model, Price, RunContext, Usage, fill_defaults

# From espeak-ng/speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2  # samples go to the callback before espeak_Synth returns
_INITIALIZE_DONT_EXIT = 0x8000  # without it a missing data folder calls exit() in the library
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000  # a sentence pause after each piece, as between sentences of one text
_RATE = 1
_PITCH = 3
_EE_OK = 0

#: The voices offered, by the names they are known by elsewhere, and eSpeak's voice name for
#: each. eSpeak looks voices up by file name, so British English is "en": "en-gb" is only the
#: language that file declares, and espeak_SetVoiceByName("en-gb") fails.
VOICES = {
    "en-us": "en-us",
    "en-gb": "en",
    "en-gb-scotland": "en-gb-scotland",
    "en-029": "en-029",
    "de": "de",
    "es": "es",
    "fr": "fr",
    "it": "it",
    "pt-br": "pt-br",
}

# A sentence ends at . ! ? or a line break; synthesising one at a time lets a job report
# progress and stop between sentences.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")

# int callback(short *wav, int numsamples, espeak_EVENT *events)
_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class Espeak:
    """The eSpeak NG library of the ``espeakng-loader`` wheel, in synchronous mode."""

    def __init__(self) -> None:
        import espeakng_loader

        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,  # text
            ctypes.c_size_t,  # size
            ctypes.c_uint,  # position
            ctypes.c_int,  # position type
            ctypes.c_uint,  # end position
            ctypes.c_uint,  # flags
            ctypes.c_void_p,  # unique identifier out
            ctypes.c_void_p,  # user data
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.argtypes = []
        lib.espeak_Synchronize.restype = ctypes.c_int
        self._lib = lib
        # The header calls this argument the folder that contains espeak-ng-data, but the
        # library also accepts the data folder itself (it tries both), which is what the wheel
        # reports. Without a path it would look in the wheel's build folder and find nothing.
        data = espeakng_loader.get_data_path().encode()
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, _INITIALIZE_DONT_EXIT)
        # A failed start returns 0 here rather than the documented -1.
        if rate <= 0:
            raise RuntimeError(f"eSpeak NG found no usable voice data in {data.decode()}")
        self.sample_rate: int = rate
        self._chunks: list[bytes] = []
        self._should_stop: Callable[[], bool] = lambda: False
        # The library keeps only the C pointer: this reference keeps the callback alive.
        self._callback = _SynthCallback(self._collect)
        lib.espeak_SetSynthCallback(self._callback)
        self.lock = threading.Lock()

    def _collect(self, wav: Any, count: int, events: Any) -> int:
        if wav and count > 0:
            self._chunks.append(ctypes.string_at(wav, count * 2))
        # Returning 1 aborts the synthesis, so a stop request ends a long sentence early.
        return 1 if self._should_stop() else 0

    def configure(self, voice: str, rate: int, pitch: int) -> None:
        """Select a voice and set speed (words per minute) and pitch (0-100)."""
        if self._lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
            raise InputError(f"eSpeak NG has no voice named {voice!r}")
        # The library keeps these from one job to the next, so every job sets all three.
        self._lib.espeak_SetParameter(_RATE, rate, 0)
        self._lib.espeak_SetParameter(_PITCH, pitch, 0)

    def speak(self, text: str, should_stop: Callable[[], bool]) -> bytes:
        """16-bit mono samples (native byte order) of ``text`` at ``sample_rate``."""
        data = text.encode("utf-8")
        self._chunks = []
        self._should_stop = should_stop
        try:
            self._lib.espeak_Synth(
                data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE, None, None
            )
            self._lib.espeak_Synchronize()
            return b"".join(self._chunks)
        finally:
            self._chunks = []
            self._should_stop = lambda: False


_engine: Espeak | None = None
_engine_lock = threading.Lock()


def engine() -> Espeak:
    """The process's eSpeak NG, started on first use."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = Espeak()
        return _engine


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``, without empty ones."""
    return [part for part in _SENTENCE_END.split(text.replace("\0", " ")) if part.strip()]


class DemoSpeech(Model):
    name = "demo-speech"
    description = "Text to speech with eSpeak NG: robotic but real, CPU only."
    modality = "audio"
    price = Price(per_second=0.001)
    requires = ("espeakng_loader", "soundfile")
    extra = "demo"
    input_schema: ClassVar[dict[str, Any]] = input_object(
        "text",
        {
            "text": prompt_property("What to say.", title="Text", max_length=5000, rows=4),
            "voice": {
                "type": "string",
                "title": "Voice",
                "description": "Language and accent.",
                "enum": list(VOICES),
                "default": "en-us",
                "x-playground": {"widget": "select"},
            },
            "speed": {
                "type": "integer",
                "title": "Speed (words/min)",
                "description": "Speaking rate in words per minute.",
                "default": 175,
                "minimum": 80,
                "maximum": 450,
                "x-playground": {"widget": "slider", "step": 5},
            },
            "pitch": {
                "type": "integer",
                "title": "Pitch",
                "description": "Base pitch, 0 (low) to 100 (high).",
                "default": 50,
                "minimum": 0,
                "maximum": 100,
                "x-playground": {"widget": "slider", "step": 1, "advanced": True},
            },
            "format": format_property("Audio file format.", AUDIO_FORMATS),
        },
    )

    def usage(self, input: dict[str, Any]) -> Usage:
        words = len(str(input.get("text", "")).split())
        speed = input.get("speed") or 175
        return Usage(outputs=1, media_seconds=round(words * 60 / speed, 3))

    def setup(self) -> None:
        engine()

    def predict(self, input: dict[str, Any], ctx: RunContext) -> None:
        params = fill_defaults(self.input_schema, input)
        sentences = split_sentences(params["text"])
        if not sentences:
            raise InputError("the text has nothing to say")
        speech = engine()
        pieces: list[bytes] = []
        with speech.lock:
            speech.configure(VOICES[params["voice"]], params["speed"], params["pitch"])
            for index, sentence in enumerate(sentences):
                ctx.check_stop()
                pieces.append(speech.speak(sentence, lambda: ctx.stop_requested))
                ctx.progress(index + 1, len(sentences) + 1)
        ctx.check_stop()
        samples = np.frombuffer(b"".join(pieces), dtype=np.int16)
        if samples.size == 0:
            raise InputError("the text has nothing to say")
        path = ctx.work_dir / "speech"
        written = write_audio(samples, speech.sample_rate, path, params["format"])
        ctx.progress(len(sentences) + 1, len(sentences) + 1)
        written.add_to(ctx)
