"""Reference sounds: recognised by their bytes, checked at submit, fetched from a real HTTP
server on 127.0.0.1 or a ``data:`` URI, and decoded by PyAV to mono float32 at a model's rate,
within a limit on their length that holds even where their header lies."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import tracemalloc
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from genq.media.audio import decode_audio
from genq.media.fetch import (
    RefusedReference,
    check_audio_reference,
    check_reference,
    fetch_audio,
    fetch_bytes,
)
from genq.media.reference import Refusal, sniff_audio
from genq.models.base import InputError
from tests.media.images import PNG, data_uri
from tests.media.network import Handler, LocalServer, body, serve

av = pytest.importorskip("av")

RATE = 16000
#: The byte limit the tests fetch under.
LIMIT = 1024 * 1024
#: The tone every test sound holds, at 0.6 on the left and 0.2 on the right: 0.4 in mono.
TONE_HZ = 440.0


def sound(
    container: str,
    codec: str,
    seconds: float,
    *,
    rate: int = 44100,
    stereo: bool = True,
    silent: bool = False,
) -> bytes:
    """``seconds`` of the test tone, encoded by PyAV with ``codec`` in ``container``."""
    buffer = io.BytesIO()
    layout = "stereo" if stereo else "mono"
    with av.open(buffer, "w", format=container) as output:
        stream = output.add_stream(codec, rate=rate, layout=layout)
        resampler = av.AudioResampler(format=stream.codec_context.format, layout=layout, rate=rate)
        t = np.arange(round(seconds * rate)) / rate
        tone = np.zeros_like(t) if silent else np.sin(2 * np.pi * TONE_HZ * t)
        levels = [[0.6], [0.2]] if stereo else [[0.4]]
        planes = (np.array(levels) * tone).astype(np.float32)
        frames = []
        for start in range(0, planes.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(planes[:, start : start + 1024]), format="fltp", layout=layout
            )
            frame.rate, frame.pts = rate, start
            frames.append(frame)
        for frame in [*frames, None]:
            for resampled in resampler.resample(frame):
                output.mux(stream.encode(resampled))
        output.mux(stream.encode(None))
    return buffer.getvalue()


def amplitude(samples: np.ndarray) -> float:
    """The tone's amplitude, from the RMS of the middle half (a lossy codec's first and last
    frames ring)."""
    middle = samples[len(samples) // 4 : 3 * len(samples) // 4]
    return float(np.sqrt(2 * np.mean(middle.astype(np.float64) ** 2)))


def audio_uri(data: bytes, content_type: str = "audio/wav") -> str:
    return data_uri(data, content_type)


def webm_declaring(data: bytes, seconds: float | None) -> bytes:
    """A WebM sound whose Segment Info says it lasts ``seconds`` (None: says nothing), whatever
    it holds: its Duration element (a float of the segment's ticks, 1 ms each) is rewritten, or
    made a Void element of the same length."""
    at = data.index(b"\x44\x89\x88")  # Duration, an 8-byte float
    if seconds is None:
        element = b"\xec\x89" + bytes(9)
    else:
        element = b"\x44\x89\x88" + struct.pack(">d", seconds * 1000)
    return data[:at] + element + data[at + 11 :]


#: A container, its codec, the content type recognised from its bytes and the sample rate the
#: codec takes; and how many seconds off its decoded length may be (AAC's priming and padding).
FORMATS = [
    ("wav", "pcm_s16le", "audio/wav", 44100, 0.0),
    ("flac", "flac", "audio/flac", 44100, 0.0),
    ("mp3", "libmp3lame", "audio/mpeg", 44100, 0.0),
    ("ogg", "libopus", "audio/ogg", 48000, 0.0),
    ("webm", "libopus", "audio/webm", 48000, 0.0),
    ("ipod", "aac", "audio/mp4", 44100, 0.05),
    ("adts", "aac", "audio/aac", 44100, 0.05),
]


@pytest.fixture(scope="module")
def wav() -> bytes:
    """One second of the test tone as a stereo 44.1 kHz WAV."""
    return sound("wav", "pcm_s16le", 1.0)


@pytest.fixture
def server() -> Iterator[LocalServer]:
    yield from serve()


# --- decoding --------------------------------------------------------------------------------


@pytest.mark.parametrize(("container", "codec", "content_type", "rate", "slack"), FORMATS)
def test_each_format_decodes_to_mono_at_the_asked_rate(
    container: str, codec: str, content_type: str, rate: int, slack: float
) -> None:
    """A second of stereo tone in each accepted format is recognised from its bytes and
    decodes to a second of 16 kHz mono float32, the mean of its channels, the tone intact."""
    data = sound(container, codec, 1.0, rate=rate)
    assert sniff_audio(data) == content_type
    samples = fetch_audio(
        audio_uri(data, content_type), sample_rate=RATE, max_seconds=5, max_bytes=LIMIT
    )
    assert samples.dtype == np.float32
    assert samples.ndim == 1
    assert RATE <= len(samples) <= RATE * (1 + slack)
    # The mean of 0.6 and 0.2, where ffmpeg's own downmix would give 0.57.
    assert 0.36 < amplitude(samples) < 0.44
    assert np.abs(samples).max() <= 1.0
    spectrum = np.abs(np.fft.rfft(samples))
    assert abs(np.argmax(spectrum) * RATE / len(samples) - TONE_HZ) < 2


def test_mono_sound_at_a_low_rate_is_resampled_up() -> None:
    """An 8 kHz mono WAV is resampled to 16 kHz: twice as many samples."""
    data = sound("wav", "pcm_s16le", 0.5, rate=8000, stereo=False)
    samples = fetch_audio(audio_uri(data), sample_rate=RATE, max_seconds=5, max_bytes=LIMIT)
    assert len(samples) == RATE // 2
    assert 0.36 < amplitude(samples) < 0.44


def test_sound_is_fetched_over_http_with_an_accept_header_for_sounds(
    server: LocalServer, wav: bytes
) -> None:
    """A URL is fetched (private addresses allowed, as the server is on 127.0.0.1), asking for
    sounds, and decoded whatever type the server claims for it."""
    accepted: list[str] = []

    def route(handler: Handler) -> None:
        accepted.append(handler.headers.get("Accept", ""))
        handler.answer(200, wav, "application/octet-stream")

    server.routes["/voice.wav"] = route
    samples = fetch_audio(
        server.url("/voice.wav"),
        sample_rate=RATE,
        max_seconds=5,
        max_bytes=LIMIT,
        allow_private=True,
    )
    assert len(samples) == RATE
    assert accepted[0].startswith("audio/wav,")
    assert "image/" not in accepted[0]


def test_fetch_bytes_of_a_sound_gives_its_type_from_the_bytes(wav: bytes) -> None:
    """``fetch_bytes(kind="audio")`` names the type the bytes have, not the declared one."""
    fetched = fetch_bytes(audio_uri(wav, "audio/mpeg"), max_bytes=LIMIT, kind="audio")
    assert (fetched.data, fetched.content_type) == (wav, "audio/wav")


# --- refusals --------------------------------------------------------------------------------


def refusal(ref: str, **limits: float) -> RefusedReference:
    """What ``fetch_audio`` refuses ``ref`` with, at 16 kHz, 5 s and 1 MiB unless told."""
    options = {"sample_rate": RATE, "max_seconds": 5.0, "max_bytes": LIMIT, **limits}
    with pytest.raises(RefusedReference) as refused:
        fetch_audio(
            ref,
            sample_rate=int(options["sample_rate"]),
            max_seconds=options["max_seconds"],
            max_bytes=int(options["max_bytes"]),
            allow_private=bool(options.get("allow_private", False)),
        )
    # Still the InputError a model lets through: the job fails with invalid_input.
    assert isinstance(refused.value, InputError)
    return refused.value


def test_an_image_is_not_audio() -> None:
    """A PNG is refused by its bytes, before any decoder sees it."""
    refused = refusal(data_uri(PNG))
    assert refused.kind == "bad_type"
    assert str(refused).endswith(": not audio (declared as image/png)")


def test_an_image_declared_as_audio_is_refused_for_its_bytes() -> None:
    """A PNG that claims to be a WAV is refused all the same."""
    refused = refusal(data_uri(PNG, "audio/wav"))
    assert refused.kind == "bad_type"
    assert str(refused).endswith(
        ": not WAV, FLAC, MP3, AAC, OGG, WebM or M4A audio (declared as audio/wav)"
    )


def test_garbage_behind_a_wav_header_is_not_readable_audio() -> None:
    """Bytes that start like a WAV but hold no format chunk are refused by the decoder."""
    noise = np.random.default_rng(7).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    garbage = b"RIFF" + struct.pack("<I", 4 + len(noise)) + b"WAVE" + noise
    assert sniff_audio(garbage) == "audio/wav"
    refused = refusal(audio_uri(garbage))
    assert refused.kind == "bad_type"
    assert str(refused).endswith(": not readable audio (Invalid data found when processing input)")


def test_a_sound_over_the_byte_limit_is_refused(server: LocalServer, wav: bytes) -> None:
    """A sound larger than max_bytes is refused, inline or from a server."""
    server.routes["/voice.wav"] = body(wav, "audio/wav")
    for ref in (audio_uri(wav), server.url("/voice.wav")):
        refused = refusal(ref, max_bytes=len(wav) - 1, allow_private=True)
        assert refused.kind == "too_large"
        assert "larger than the" in str(refused)


@pytest.mark.parametrize("codec", ["pcm_u8", "pcm_s24le", "pcm_f32le", "pcm_alaw", "pcm_mulaw"])
def test_a_wav_of_another_pcm_encoding_decodes(codec: str) -> None:
    """A WAV may hold samples of other widths, float, or A-law and mu-law: all are taken."""
    samples = fetch_audio(
        audio_uri(sound("wav", codec, 0.5, rate=RATE)),
        sample_rate=RATE,
        max_seconds=5,
        max_bytes=LIMIT,
    )
    assert len(samples) == RATE // 2
    assert 0.36 < amplitude(samples) < 0.44


def test_a_wav_of_a_codec_not_taken_is_refused() -> None:
    """A WAV may carry nearly any codec; one that is not PCM, as ADPCM, is refused, and so is
    one that ffmpeg does not know."""
    adpcm = sound("wav", "adpcm_ms", 0.5)
    assert sniff_audio(adpcm) == "audio/wav"
    refused = refusal(audio_uri(adpcm))
    assert refused.kind == "bad_type"
    assert str(refused).endswith(
        ": not readable audio (its codec, adpcm_ms, is not PCM, FLAC, MP3, AAC, Vorbis, Opus"
        " or ALAC)"
    )
    unknown = bytearray(sound("wav", "pcm_s16le", 0.5, rate=RATE))
    at = unknown.index(b"fmt ") + 8  # the format chunk's first field, its codec's tag
    unknown[at : at + 2] = struct.pack("<H", 0x1234)
    refused = refusal(audio_uri(bytes(unknown)))
    assert refused.kind == "bad_type"
    assert str(refused).endswith(
        ": not readable audio (its codec is unknown, not PCM, FLAC, MP3, AAC, Vorbis, Opus or ALAC)"
    )


def test_a_sound_declared_too_long_is_refused_before_decoding() -> None:
    """A 3 s WAV under a 1 s limit is refused by the length its header gives."""
    data = sound("wav", "pcm_s16le", 3.0, rate=8000, stereo=False)
    refused = refusal(audio_uri(data), max_seconds=1.0)
    assert refused.kind == "too_long"
    assert str(refused).endswith(": it lasts 3.0 s, longer than the 1 s allowed")


@pytest.fixture(scope="module")
def long_webm() -> bytes:
    """Ten seconds of 48 kHz mono Opus in WebM."""
    return sound("webm", "libopus", 10.0, rate=48000, stereo=False)


@pytest.mark.parametrize("declared", [0.1, None], ids=["declares-0.1s", "declares-nothing"])
def test_a_sound_longer_than_its_header_says_is_cut_off_at_the_limit(
    long_webm: bytes, declared: float | None
) -> None:
    """A 10 s WebM that says it lasts 0.1 s, or says nothing, passes the header check but is
    refused once its decoded samples pass a 1 s limit: decoding stops there, holding no more
    than about that second of samples (64 KB), where the whole sound takes 640 KB."""
    data = webm_declaring(long_webm, declared)
    whole = fetch_audio(audio_uri(data), sample_rate=RATE, max_seconds=20, max_bytes=LIMIT)
    assert len(whole) == 10 * RATE  # the header does lie
    refused = refusal(audio_uri(data), max_seconds=1.0)
    assert refused.kind == "too_long"
    assert str(refused).endswith(": it lasts longer than the 1 s allowed")
    # The decoding alone, as the fetch's own copies of the bytes would count too.
    tracemalloc.start()
    try:
        with pytest.raises(Refusal, match="longer than the 1 s allowed"):
            decode_audio(data, sample_rate=RATE, max_seconds=1.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 128 * 1024


def flac_declaring(data: bytes, seconds: int) -> bytes:
    """A FLAC sound at 16 kHz whose STREAMINFO says it lasts ``seconds``, whatever it holds: the
    last 36 of the 64 bits after its first 18 bytes count its samples."""
    fields = int.from_bytes(data[18:26], "big") & ~((1 << 36) - 1) | seconds * RATE
    return data[:18] + fields.to_bytes(8, "big") + data[26:]


def test_a_sound_declared_long_is_given_room_for_minutes_at_first() -> None:
    """A second of FLAC, a few kilobytes, that says it lasts ten hours, the limit, is decoded
    into a buffer of a few minutes' samples at most, not ten hours' (2.1 GiB)."""
    silence = sound("flac", "flac", 1.0, rate=RATE, stereo=False, silent=True)
    data = flac_declaring(silence, 36000)
    tracemalloc.start()
    try:
        samples = decode_audio(data, sample_rate=RATE, max_seconds=36000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(samples) == RATE
    assert peak < 10 * 1024 * 1024


def test_a_sound_longer_than_the_first_room_made_grows_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A sound decoded into a buffer made for less of it comes out the same."""
    data = sound("wav", "pcm_s16le", 3.0, rate=RATE)
    whole = decode_audio(data, sample_rate=RATE, max_seconds=5)
    monkeypatch.setattr("genq.media.audio._MOST_FIRST_SECONDS", 0.1)
    grown = decode_audio(data, sample_rate=RATE, max_seconds=5)
    assert len(grown) == 3 * RATE
    assert np.array_equal(grown, whole)


def test_a_sound_of_exactly_the_limit_passes() -> None:
    """The limit is inclusive: a sound as long as it is taken whole."""
    data = sound("wav", "pcm_s16le", 1.0, rate=RATE, stereo=False)
    samples = fetch_audio(audio_uri(data), sample_rate=RATE, max_seconds=1.0, max_bytes=LIMIT)
    assert len(samples) == RATE


def test_silence_is_a_sound() -> None:
    """A sound whose every sample is zero is taken: a model may well be asked about silence
    (a transcript of nothing is an empty text)."""
    data = sound("wav", "pcm_s16le", 0.5, silent=True)
    samples = fetch_audio(audio_uri(data), sample_rate=RATE, max_seconds=1.0, max_bytes=LIMIT)
    assert len(samples) == RATE // 2
    assert not samples.any()


def test_a_sound_without_samples_is_refused() -> None:
    """A WAV with a header and no samples is refused."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as empty:
        empty.setparams((1, 2, 44100, 0, "NONE", "not compressed"))
    data = buffer.getvalue()
    assert sniff_audio(data) == "audio/wav"
    refused = refusal(audio_uri(data))
    assert refused.kind == "malformed"
    assert str(refused).endswith(": it holds no sound (no samples)")


def test_a_sound_at_a_rate_too_low_to_resample_safely_is_refused() -> None:
    """A 1 kHz WAV is refused: resampled up a whole frame at a time, a very low rate would
    make one frame many times the length limit before it could be counted."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as low:
        low.setparams((1, 2, 1000, 0, "NONE", "not compressed"))
        low.writeframes(np.full(500, 1000, dtype="<i2").tobytes())
    refused = refusal(audio_uri(buffer.getvalue()))
    assert refused.kind == "malformed"
    assert str(refused).endswith(": its sample rate, 1000 Hz, is below the 4000 Hz taken")


def levels_sound(container: str, codec: str, layout: str) -> bytes:
    """Half a second at 16 kHz with a channel for each of ``layout``'s, each at a level of its
    own: 0.05 on the first, 0.10 on the second, and so on."""
    buffer = io.BytesIO()
    channels = av.AudioLayout(layout).nb_channels
    with av.open(buffer, "w", format=container) as output:
        stream = output.add_stream(codec, rate=RATE, layout=layout)
        resampler = av.AudioResampler(format=stream.codec_context.format, layout=layout, rate=RATE)
        levels = 0.05 * np.arange(1, channels + 1, dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(
            np.tile(levels, RATE // 2)[np.newaxis, :], format="flt", layout=layout
        )
        frame.rate, frame.pts = RATE, 0
        for resampled in [*resampler.resample(frame), *resampler.resample(None)]:
            output.mux(stream.encode(resampled))
        output.mux(stream.encode(None))
    return buffer.getvalue()


def decoded_elsewhere(data: bytes, tmp_path: Path) -> str:
    """What ``decode_audio`` makes of ``data`` at 16 kHz, run in a process of its own so that a
    crash fails the test rather than ending the run: the samples' count, least and greatest,
    or the refusal's kind and reason."""
    path = tmp_path / "sound"
    path.write_bytes(data)
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from genq.media.audio import decode_audio\n"
        "from genq.media.reference import Refusal\n"
        "try:\n"
        "    s = decode_audio(Path(sys.argv[1]).read_bytes(), sample_rate=16000, max_seconds=5)\n"
        "except Refusal as refusal:\n"
        "    print(refusal.kind, refusal)\n"
        "else:\n"
        "    print(len(s), round(float(s.min()), 3), round(float(s.max()), 3))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


@pytest.mark.parametrize(("container", "codec"), [("wav", "pcm_s16le"), ("flac", "flac")])
def test_a_sound_of_eight_channels_decodes_to_their_mean(
    container: str, codec: str, tmp_path: Path
) -> None:
    """A 7.1 sound, eight channels at 0.05 to 0.40, decodes to half a second of their mean,
    0.225, throughout."""
    data = levels_sound(container, codec, "7.1")
    assert decoded_elsewhere(data, tmp_path) == f"{RATE // 2} 0.225 0.225"


def test_a_sound_of_too_many_channels_is_refused_before_decoding(tmp_path: Path) -> None:
    """A WAV of 64 channels is refused by its header."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as many:
        many.setparams((64, 2, RATE, 0, "NONE", "not compressed"))
        many.writeframes(bytes(64 * 2 * 100))
    assert decoded_elsewhere(buffer.getvalue(), tmp_path) == (
        "malformed it has 64 channels, more than the 32 taken"
    )


def test_a_private_address_is_refused_before_any_request(server: LocalServer, wav: bytes) -> None:
    """A URL on 127.0.0.1 is refused unless private addresses are allowed; no request is made."""
    server.routes["/voice.wav"] = body(wav, "audio/wav")
    refused = refusal(server.url("/voice.wav"))
    assert refused.kind == "private_address"
    assert str(refused).endswith("the host 127.0.0.1 does not resolve to a public address")
    assert server.requests == []


def test_an_ftp_url_is_refused() -> None:
    """Schemes other than http, https and data are refused."""
    refused = refusal("ftp://example.com/voice.wav")
    assert refused.kind == "malformed"
    assert "only http://, https:// and data: references are accepted" in str(refused)


# --- at submit -------------------------------------------------------------------------------


def test_check_reference_for_audio_refuses_an_image_and_takes_a_sound(wav: bytes) -> None:
    """At submit, a PNG data: URI is refused as audio with the bare reason; a WAV data: URI and
    an http URL pass; the image check, still the default, refuses the WAV."""
    with pytest.raises(InputError) as refused:
        check_reference(data_uri(PNG), "audio")
    assert str(refused.value) == "not audio (declared as image/png)"
    with pytest.raises(InputError, match=r"^not audio \(declared as image/png\)$"):
        check_audio_reference(data_uri(PNG))
    check_reference(audio_uri(wav), "audio")
    check_audio_reference(audio_uri(wav))
    check_audio_reference("https://example.com/voice.mp3")
    with pytest.raises(InputError, match=r"^not an image \(audio/wav\)$"):
        check_reference(audio_uri(wav))


@pytest.mark.parametrize(
    ("head", "content_type"),
    [
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "audio/wav"),
        (b"fLaC\x00\x00\x00\x22", "audio/flac"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x64", "audio/mpeg"),
        # An ID3 tag of 4 bytes in front of a FLAC stream.
        (b"ID3\x04\x00\x00\x00\x00\x00\x04TAGSfLaC\x00\x00\x00\x22", "audio/flac"),
        # Two tags, or the four taken, in front of a FLAC stream or an MP3 frame.
        (2 * b"ID3\x04\x00\x00\x00\x00\x00\x04TAGS" + b"fLaC\x00\x00\x00\x22", "audio/flac"),
        (4 * b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64", "audio/mpeg"),
        # Five are too many: no sound is made so.
        (5 * b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64", None),
        (b"\xff\xfb\x90\x64\x00\x00\x00\x00", "audio/mpeg"),  # an MPEG-1 layer III frame
        (b"\xff\xf1\x50\x80\x2a\xff\xfc", "audio/aac"),  # an ADTS frame
        (b"OggS\x00\x02\x00\x00", "audio/ogg"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "audio/webm"),
        (b"\x00\x00\x00\x1cftypM4A \x00\x00\x02\x00", "audio/mp4"),
        # Not sounds: a JPEG (its FF D8 is no frame sync), a HEIF photo, a PNG, text.
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", None),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", None),
        (PNG[:16], None),
        (b"hello, world", None),
    ],
)
def test_sounds_are_recognised_by_their_first_bytes(head: bytes, content_type: str | None) -> None:
    """Each accepted format is told by its signature, and look-alikes are not taken for one."""
    assert sniff_audio(head) == content_type


def id3_tag(payload: bytes) -> bytes:
    """An ID3v2.3 tag holding ``payload``, its size in 7-bit ("syncsafe") bytes."""
    size = len(payload)
    return b"ID3\x03\x00\x00" + bytes(size >> shift & 0x7F for shift in (21, 14, 7, 0)) + payload


def test_a_sound_behind_two_id3_tags_is_recognised_and_decodes() -> None:
    """A FLAC or MP3 sound behind two ID3 tags is taken for what it is, and decodes whole."""
    title = id3_tag(b"TIT2\x00\x00\x00\x05\x00\x00\x03abc\x00")
    for container, codec, content_type in (
        ("flac", "flac", "audio/flac"),
        ("mp3", "libmp3lame", "audio/mpeg"),
    ):
        data = 2 * title + sound(container, codec, 1.0, rate=RATE, stereo=False)
        assert sniff_audio(data) == content_type
        samples = decode_audio(data, sample_rate=RATE, max_seconds=5)
        assert len(samples) == RATE
        assert 0.36 < amplitude(samples) < 0.44


def test_a_pile_of_id3_tags_is_refused_at_once() -> None:
    """Empty ID3 tags one behind the other are no sound: two thousand of them are refused at
    submit as not audio, as a tag nested in a tag used to need a level of recursion each, and
    a hundred of them in front of a megabyte are refused without a copy of that megabyte."""
    empty = b"ID3\x03\x00\x00\x00\x00\x00\x00"
    with pytest.raises(InputError, match=r"^not WAV, FLAC, MP3, AAC, OGG, WebM or M4A audio"):
        check_audio_reference(audio_uri(2000 * empty, "audio/mpeg"))
    data = 100 * empty + bytes(LIMIT)
    tracemalloc.start()
    try:
        assert sniff_audio(data) is None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024


def test_importing_the_fetch_loads_neither_pyav_nor_numpy() -> None:
    """The API process imports the fetch for its submit checks; decoding libraries stay out."""
    code = "import sys, genq.media.fetch\nprint(sorted({'av', 'numpy'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
