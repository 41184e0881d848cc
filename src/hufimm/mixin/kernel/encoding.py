"""Mixin kernel transaction v5: the raw byte format, both ways.

The unsigned raw is what gets registered with Mixin and hashed (``blake3``); the signed raw is
the same bytes with the trailing ``00 00`` (no signature maps) replaced by one map per input.
Decoding is strict: a wrong magic, version, length or trailing byte is a :class:`KernelDecodeError`,
because a fake that accepted sloppy bytes would hide an encoder bug.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import blake3

MAGIC = b"\x77\x77"
NULL = b"\x00\x00"
TX_VERSION = 5
OUTPUT_TYPE_SCRIPT = 0x00
OUTPUT_TYPE_WITHDRAWAL = 0xA1
#: ``fffe01``: one signature of the listed key(s) spends the output (1-of-1).
SCRIPT_THRESHOLD_PREFIX = b"\xff\xfe"
MAX_INPUTS = 256
MAX_OUTPUTS = 256
MAX_REFERENCES = 16
MAX_EXTRA = 256


class KernelDecodeError(ValueError):
    """The bytes are not a well-formed v5 transaction."""


def threshold_script(threshold: int) -> bytes:
    if not 0 < threshold < 256:
        raise ValueError(f"threshold must fit one byte, got {threshold}")
    return SCRIPT_THRESHOLD_PREFIX + bytes([threshold])


@dataclass(frozen=True, slots=True)
class Input:
    """A spent output, named by the transaction that made it and its index there."""

    hash: bytes
    index: int


@dataclass(frozen=True, slots=True)
class Withdrawal:
    address: str
    tag: str = ""


@dataclass(frozen=True, slots=True)
class Output:
    """One output; ``amount`` is in kernel units (10^-8)."""

    amount: int
    keys: tuple[bytes, ...] = ()
    mask: bytes = bytes(32)
    script: bytes = b""
    type: int = OUTPUT_TYPE_SCRIPT
    withdrawal: Withdrawal | None = None


@dataclass(frozen=True, slots=True)
class Transaction:
    """A v5 transaction; ``signatures`` is ``()`` for the unsigned form, else one map per input."""

    asset: bytes
    inputs: tuple[Input, ...]
    outputs: tuple[Output, ...]
    references: tuple[bytes, ...] = ()
    extra: bytes = b""
    signatures: tuple[Mapping[int, bytes], ...] = field(default=())
    version: int = TX_VERSION

    def unsigned(self) -> Transaction:
        return Transaction(
            self.asset, self.inputs, self.outputs, self.references, self.extra, (), self.version
        )

    def with_signatures(self, signatures: Sequence[Mapping[int, bytes]]) -> Transaction:
        return Transaction(
            self.asset,
            self.inputs,
            self.outputs,
            self.references,
            self.extra,
            tuple(dict(m) for m in signatures),
            self.version,
        )

    def encode(self) -> bytes:
        return encode_transaction(self)

    def unsigned_bytes(self) -> bytes:
        return encode_transaction(self.unsigned())

    def hash(self) -> bytes:
        """The transaction hash: blake3 of the unsigned raw, including its ``00 00`` trailer."""
        return transaction_hash(self.unsigned_bytes())


def transaction_hash(unsigned_raw: bytes) -> bytes:
    return blake3.blake3(unsigned_raw).digest()


# ------------------------------------------------------------------ encoding
def _u16(value: int) -> bytes:
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"{value} does not fit in 16 bits")
    return struct.pack(">H", value)


def _integer(units: int) -> bytes:
    """Minimal big-endian bytes of a non-negative amount, prefixed by their u16 length."""
    if units < 0:
        raise ValueError(f"negative amount {units}")
    body = units.to_bytes((units.bit_length() + 7) // 8, "big")
    return _u16(len(body)) + body


def _check32(value: bytes, what: str) -> bytes:
    if len(value) != 32:
        raise ValueError(f"{what} must be 32 bytes, got {len(value)}")
    return value


def encode_transaction(tx: Transaction) -> bytes:
    out = bytearray(MAGIC)
    out += _u16(tx.version)
    out += _check32(tx.asset, "asset")
    out += _u16(len(tx.inputs))
    for item in tx.inputs:
        out += _check32(item.hash, "input hash") + _u16(item.index)
        out += _u16(0)  # genesis
        out += NULL  # no deposit
        out += NULL  # no mint
    out += _u16(len(tx.outputs))
    for output in tx.outputs:
        out += bytes([0, output.type])
        out += _integer(output.amount)
        out += _u16(len(output.keys))
        for key in output.keys:
            out += _check32(key, "output key")
        out += _check32(output.mask, "mask")
        out += _u16(len(output.script)) + output.script
        if output.withdrawal is None:
            out += NULL
        else:
            address = output.withdrawal.address.encode()
            tag = output.withdrawal.tag.encode()
            out += MAGIC + _u16(len(address)) + address + _u16(len(tag)) + tag
    out += _u16(len(tx.references))
    for reference in tx.references:
        out += _check32(reference, "reference")
    out += struct.pack(">I", len(tx.extra)) + tx.extra
    out += _u16(len(tx.signatures))
    for sigmap in tx.signatures:
        out += _u16(len(sigmap))
        for signer in sorted(sigmap):
            signature = sigmap[signer]
            if len(signature) != 64:
                raise ValueError(f"signature must be 64 bytes, got {len(signature)}")
            out += _u16(signer) + signature
    return bytes(out)


# ------------------------------------------------------------------ decoding
class _Reader:
    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def take(self, n: int) -> bytes:
        end = self._pos + n
        if end > len(self._data):
            raise KernelDecodeError(f"truncated: wanted {n} bytes at offset {self._pos}")
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def u16(self) -> int:
        value: int = struct.unpack(">H", self.take(2))[0]
        return value

    def u32(self) -> int:
        value: int = struct.unpack(">I", self.take(4))[0]
        return value

    def done(self) -> bool:
        return self._pos == len(self._data)


def _expect_null(reader: _Reader, what: str) -> None:
    if reader.take(2) != NULL:
        raise KernelDecodeError(f"{what} is not supported in this codec")


def decode_transaction(raw: bytes) -> Transaction:
    """Parse a raw v5 transaction (unsigned or signed); raises :class:`KernelDecodeError`."""
    reader = _Reader(raw)
    if reader.take(2) != MAGIC:
        raise KernelDecodeError("bad magic")
    version = reader.u16()
    if version != TX_VERSION:
        raise KernelDecodeError(f"unsupported version {version}")
    asset = reader.take(32)
    inputs = []
    for _ in range(reader.u16()):
        hash_ = reader.take(32)
        index = reader.u16()
        if reader.u16() != 0:
            raise KernelDecodeError("genesis inputs are not supported")
        _expect_null(reader, "deposit input")
        _expect_null(reader, "mint input")
        inputs.append(Input(hash_, index))
    outputs = []
    for _ in range(reader.u16()):
        if reader.take(1) != b"\x00":
            raise KernelDecodeError("bad output prefix")
        type_ = reader.take(1)[0]
        amount_bytes = reader.take(reader.u16())
        if amount_bytes[:1] == b"\x00":
            raise KernelDecodeError("non-minimal amount encoding")
        amount = int.from_bytes(amount_bytes, "big")
        keys = tuple(reader.take(32) for _ in range(reader.u16()))
        mask = reader.take(32)
        script = reader.take(reader.u16())
        marker = reader.take(2)
        withdrawal = None
        if marker == MAGIC:
            address = reader.take(reader.u16())
            tag = reader.take(reader.u16())
            try:
                withdrawal = Withdrawal(address.decode(), tag.decode())
            except UnicodeDecodeError:
                raise KernelDecodeError("withdrawal address or tag is not UTF-8") from None
        elif marker != NULL:
            raise KernelDecodeError("bad withdrawal marker")
        outputs.append(Output(amount, keys, mask, script, type_, withdrawal))
    references = tuple(reader.take(32) for _ in range(reader.u16()))
    extra = reader.take(reader.u32())
    signatures = []
    for _ in range(reader.u16()):
        sigmap: dict[int, bytes] = {}
        for _ in range(reader.u16()):
            signer = reader.u16()  # read the index first: the signature follows it
            if sigmap and signer <= max(sigmap):
                raise KernelDecodeError(f"signer {signer} out of order or repeated")
            sigmap[signer] = reader.take(64)
        signatures.append(sigmap)
    if not reader.done():
        raise KernelDecodeError("trailing bytes after the transaction")
    return Transaction(
        asset, tuple(inputs), tuple(outputs), references, extra, tuple(signatures), version
    )
