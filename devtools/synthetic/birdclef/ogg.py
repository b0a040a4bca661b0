"""Ogg Vorbis bytes that depend only on the audio and the file name.

libsndfile draws the Ogg stream serial number from the clock; ``set_ogg_serial`` rewrites it
(and every page checksum), so the same seed gives the same bytes.
"""

from __future__ import annotations

import io
import zlib

import numpy as np
import soundfile as sf

from devtools.synthetic.birdclef.config import SAMPLE_RATE

_BIT_REVERSED = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def ogg_crc(page: bytes) -> int:
    """Ogg page checksum (CRC-32, polynomial 0x04C11DB7, unreflected, init 0) at zlib speed.

    zlib computes the reflected CRC with init and final XOR 0xFFFFFFFF. Reversing the bits of
    every byte, cancelling the init term with the CRC of as many zero bytes, and reversing the
    32-bit result gives the unreflected, zero-init CRC that Ogg uses.
    """
    reflected = zlib.crc32(page.translate(_BIT_REVERSED)) ^ zlib.crc32(bytes(len(page)))
    return int(f"{reflected:032b}"[::-1], 2)


def set_ogg_serial(data: bytes, serial: int) -> bytes:
    """Rewrite the stream serial number of every Ogg page and fix the page checksums."""
    out = bytearray()
    pos = 0
    while pos < len(data):
        if data[pos : pos + 4] != b"OggS":
            raise ValueError(f"not an Ogg page at byte {pos}")
        n_segments = data[pos + 26]
        body = sum(data[pos + 27 : pos + 27 + n_segments])
        page = bytearray(data[pos : pos + 27 + n_segments + body])
        page[14:18] = serial.to_bytes(4, "little")
        page[22:26] = bytes(4)
        page[22:26] = ogg_crc(bytes(page)).to_bytes(4, "little")
        out += page
        pos += len(page)
    return bytes(out)


def encode_ogg(audio: np.ndarray, serial: int) -> bytes:
    """Ogg Vorbis bytes of mono float32 ``audio`` (samples,) at 32 kHz, serial fixed."""
    buffer = io.BytesIO()
    sf.write(buffer, audio, SAMPLE_RATE, format="OGG", subtype="VORBIS")
    # libsndfile draws the serial from the clock; fixing it makes the bytes reproducible.
    return set_ogg_serial(buffer.getvalue(), serial)
