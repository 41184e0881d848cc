"""The wallet's signature for the recording oracle: EIP-191 ``personal_sign`` of compact JSON.

The oracle verifies ``JSON.stringify({nonce})``, which has no spaces; Python's default
``json.dumps`` adds one and the signature would not verify.  The private key lives only inside
this object (from a ``SecretStr``), and ``repr`` never shows it.
"""

from __future__ import annotations

import json

from eth_account import Account
from eth_account.messages import encode_defunct
from pydantic import SecretStr

from hufimm.core.errors import ConfigError


def nonce_message(nonce: str) -> str:
    """The exact text signed for ``nonce``: ``{"nonce":"…"}`` without spaces."""
    return json.dumps({"nonce": nonce}, separators=(",", ":"))


class WalletSigner:
    """Signs oracle login messages with one wallet key."""

    __slots__ = ("_key", "address")

    def __init__(self, private_key: SecretStr) -> None:
        raw = private_key.get_secret_value().strip()
        try:
            account = Account.from_key(raw)
        except Exception:  # eth-account raises several types for a bad key
            raise ConfigError("hufi.wallet_private_key", "not a valid secp256k1 key") from None
        self._key = raw
        self.address: str = str(account.address)

    def sign_text(self, text: str) -> str:
        """EIP-191 signature of ``text`` as ``0x`` + 130 hex digits."""
        signed = Account.sign_message(encode_defunct(text=text), self._key)
        return str(signed.signature.to_0x_hex())

    def sign_nonce(self, nonce: str) -> str:
        return self.sign_text(nonce_message(nonce))

    def __repr__(self) -> str:
        return f"WalletSigner({self.address})"
