"""Secure aggregation, client side: the wire protocol `fma-secagg/v1` (docs/secure-aggregation-protocol.md).

SecAgg (Bonawitz et al., CCS 2017), semi-honest, with dropout recovery, on the complete graph. The
service only ever sees masked vectors; the masks cancel (or are removed with revealed Shamir shares
of the dropouts' secrets) in the sum. This module holds:

- the primitives, bit for bit as the TypeScript SDK and the service: `prg`, Shamir sharing over
  p = 2^521 - 1 (`shamir_split`, `shamir_reconstruct`, `share_to_hex`, `share_from_hex`),
  `encode_fixed_point`, X25519 and HKDF (`KeyPair`, `pairwise_seed`, `share_key`), the share
  encryption (`encrypt_shares_for`, `decrypt_shares_from`) and the masking (`mask_words`);
- `SecureRoundParticipant`: one client's round, one method per stage, so that a test can stop a
  client after any stage (`FmaClient.secure_round` runs all four);
- a command line for one participant: `python -m fma_serverless.secure_aggregation --help`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import secrets
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ._weights import prepare_weights
from .errors import FmaApiError, SecureRoundError

if TYPE_CHECKING:
    from .client import FmaClient

Words = npt.NDArray[np.uint32]

PROTOCOL = "fma-secagg/v1"
#: The Shamir field: the Mersenne prime 2^521 - 1.
PRIME = 2**521 - 1
#: A share on the wire: 66 big-endian bytes, 132 lowercase hex digits.
SHARE_BYTES = 66
SECRET_BYTES = 32
PAIRWISE_INFO = "fma-secagg/v1 pairwise mask"
SHARE_INFO = "fma-secagg/v1 share encryption"
NONCE_BYTES = 12
#: Words of keystream (and of values encoded) per step: 4 MiB of uint32, so that masking a vector
#: takes the vector itself and a few such chunks, whatever its length.
CHUNK_WORDS = 1 << 20
STAGES = ("advertise", "share", "masked_input", "reveal")
_ZEROS = bytes(4 * CHUNK_WORDS)

# --- primitives ------------------------------------------------------------------------------


def prg_chunks(seed: bytes, length: int, chunk_words: int = CHUNK_WORDS) -> Iterator[Words]:
    """`PRG(seed, length)` a chunk of at most `chunk_words` words at a time (one keystream, in order)."""
    if len(seed) != SECRET_BYTES:
        raise ValueError(f"a PRG seed is {SECRET_BYTES} bytes, not {len(seed)}")
    if length < 0 or chunk_words <= 0:
        raise ValueError("length must be >= 0 and chunk_words > 0")
    encryptor = Cipher(algorithms.AES(seed), modes.CTR(bytes(16))).encryptor()
    zeros = _ZEROS if chunk_words == CHUNK_WORDS else bytes(4 * chunk_words)
    for start in range(0, length, chunk_words):
        count = min(chunk_words, length - start)
        block = encryptor.update(zeros if count == chunk_words else zeros[: 4 * count])
        yield np.frombuffer(block, dtype="<u4").astype(np.uint32, copy=False)


def prg(seed: bytes, length: int) -> Words:
    """`length` uint32 words: the AES-256-CTR keystream of key `seed` (counter block 16 zero bytes,
    the whole block a big-endian counter) read as little-endian uint32s."""
    out = np.empty(length, dtype=np.uint32)
    offset = 0
    for chunk in prg_chunks(seed, length):
        out[offset : offset + chunk.size] = chunk
        offset += chunk.size
    return out


def hkdf(ikm: bytes, round_id: str, info: str) -> bytes:
    """HKDF-SHA256, salt utf8(round_id), info utf8(info), 32 bytes."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=round_id.encode("utf-8"), info=info.encode("utf-8")).derive(ikm)


def x25519(private_key: bytes, public_key: bytes) -> bytes:
    """RFC 7748 X25519 of raw 32-byte keys."""
    return X25519PrivateKey.from_private_bytes(private_key).exchange(X25519PublicKey.from_public_bytes(public_key))


def public_key_of(private_key: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(private_key).public_key().public_bytes_raw()


@dataclass(frozen=True)
class KeyPair:
    """An X25519 key pair as raw 32-byte strings."""

    private: bytes
    public: bytes

    @classmethod
    def generate(cls) -> KeyPair:
        key = X25519PrivateKey.generate()
        return cls(key.private_bytes_raw(), key.public_key().public_bytes_raw())

    @classmethod
    def from_private(cls, private: bytes) -> KeyPair:
        return cls(private, public_key_of(private))


def pairwise_seed(s_private: bytes, s_public_other: bytes, round_id: str) -> bytes:
    """s_uv = HKDF(X25519(s_sk_u, s_pk_v), "fma-secagg/v1 pairwise mask"), the same for u and v."""
    return hkdf(x25519(s_private, s_public_other), round_id, PAIRWISE_INFO)


def share_key(c_private: bytes, c_public_other: bytes, round_id: str) -> bytes:
    """k_uv = HKDF(X25519(c_sk_u, c_pk_v), "fma-secagg/v1 share encryption")."""
    return hkdf(x25519(c_private, c_public_other), round_id, SHARE_INFO)


# --- Shamir over p = 2^521 - 1 ---------------------------------------------------------------


def random_coefficient() -> int:
    """Uniform enough in [0, p): 66 random bytes reduced mod p (the protocol's rule)."""
    return int.from_bytes(secrets.token_bytes(SHARE_BYTES), "big") % PRIME


def shamir_split(secret: bytes, threshold: int, xs: Sequence[int], coefficients: Sequence[int] | None = None) -> dict[int, int]:
    """Shares `y = s + a_1 x + ... + a_{t-1} x^{t-1} mod p` of the 32-byte `secret` at each x in `xs`.

    `coefficients` (a_1 .. a_{t-1}) are drawn from a CSPRNG unless given (tests give them)."""
    if len(secret) != SECRET_BYTES:
        raise ValueError(f"a secret is {SECRET_BYTES} bytes, not {len(secret)}")
    if threshold < 1:
        raise ValueError("the threshold must be at least 1")
    if coefficients is None:
        coefficients = [random_coefficient() for _ in range(threshold - 1)]
    elif len(coefficients) != threshold - 1 or not all(0 <= a < PRIME for a in coefficients):
        raise ValueError(f"a threshold of {threshold} takes {threshold - 1} coefficients in [0, p)")
    if any(x <= 0 or x >= PRIME for x in xs) or len(set(xs)) != len(xs):
        raise ValueError("share indices must be distinct and in [1, p)")
    s = int.from_bytes(secret, "big")
    shares: dict[int, int] = {}
    for x in xs:
        y = 0
        for a in reversed([s, *coefficients]):  # Horner
            y = (y * x + a) % PRIME
        shares[x] = y
    return shares


def shamir_reconstruct(shares: Mapping[int, int] | Sequence[tuple[int, int]]) -> bytes:
    """The 32-byte secret from shares (x, y): Lagrange at 0, mod p. The result must be < 2^256."""
    points = list(shares.items()) if isinstance(shares, Mapping) else list(shares)
    if not points:
        raise ValueError("no shares")
    xs = [x for x, _ in points]
    if len(set(xs)) != len(xs):
        raise ValueError("shares must be at distinct indices")
    secret = 0
    for j, (xj, yj) in enumerate(points):
        numerator, denominator = 1, 1
        for k, xk in enumerate(xs):
            if k != j:
                numerator = numerator * xk % PRIME
                denominator = denominator * (xk - xj) % PRIME
        secret = (secret + yj * numerator * pow(denominator, -1, PRIME)) % PRIME
    if secret >= 1 << (8 * SECRET_BYTES):
        raise ValueError("the shares do not give a 32-byte secret (too few, or inconsistent)")
    return secret.to_bytes(SECRET_BYTES, "big")


def share_to_hex(y: int) -> str:
    """A share on the wire: `y` as 66 big-endian bytes in lowercase hex (132 digits)."""
    if not 0 <= y < PRIME:
        raise ValueError("a share is in [0, p)")
    return y.to_bytes(SHARE_BYTES, "big").hex()


def share_from_hex(text: str) -> int:
    if not isinstance(text, str) or len(text) != 2 * SHARE_BYTES or any(c not in "0123456789abcdef" for c in text):
        raise ValueError("a share is 132 lowercase hex digits")
    y = int(text, 16)
    if y >= PRIME:
        raise ValueError("a share is in [0, p)")
    return y


# --- fixed point -----------------------------------------------------------------------------


def scale(bits: int) -> int:
    """S = 2^(bits-1) - 1."""
    if not 2 <= bits <= 32:
        raise ValueError("bits must be in [2, 32]")
    return (1 << (bits - 1)) - 1


def flatten_values(values: Any) -> list[npt.NDArray[Any]]:
    """The layers of `values` (an array, a list of arrays or of numbers, a mapping), flat, in the
    order `FmaClient.send_update` sends them; not copied where they are contiguous."""
    return [np.ascontiguousarray(layer).reshape(-1) for layer in prepare_weights(values).layers]


def encode_fixed_point(values: Any, clip_range: float, bits: int, weight: int = 1) -> Words:
    """A client's vector of `m + 1` words: for each value x (float64), x' = min(max(x, -c), c),
    q = floor((x' / c) * S + 0.5), word = (w * q) mod 2^32; the last word is w.

    Encoded a chunk at a time (the float64 temporaries are one chunk). Non-finite values are refused.
    """
    c = float(clip_range)
    if not (c > 0 and np.isfinite(c)):
        raise ValueError("clip_range must be a positive finite number")
    if isinstance(weight, bool) or int(weight) != weight or not 1 <= weight < 2**31:
        raise ValueError("the weight must be an integer in [1, 2^31)")
    s = float(scale(bits))
    layers = flatten_values(values)
    length = sum(layer.size for layer in layers)
    out = np.empty(length + 1, dtype=np.uint32)
    offset = 0
    for layer in layers:
        for start in range(0, layer.size, CHUNK_WORDS):
            x = np.asarray(layer[start : start + CHUNK_WORDS], dtype=np.float64)
            if not np.all(np.isfinite(x)):
                raise ValueError("values must be finite")
            q = np.floor(np.minimum(np.maximum(x, -c), c) / c * s + 0.5)
            words = q.astype(np.int64) * int(weight)
            out[offset : offset + x.size] = (words & 0xFFFFFFFF).astype(np.uint32)
            offset += x.size
    out[length] = np.uint32(int(weight) & 0xFFFFFFFF)
    return out


def decode_sum(words: Words, clip_range: float, bits: int) -> npt.NDArray[np.float32]:
    """What the service publishes from a sum of encodings: T_i / W * c / S (float64, as float32)."""
    signed = words.view(np.int32).astype(np.float64)
    mean: npt.NDArray[np.float32] = (signed[:-1] / signed[-1] * float(clip_range) / float(scale(bits))).astype(np.float32)
    return mean


# --- masking ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Peer:
    """Another sharer, as the masking needs it: its index and its s public key (raw)."""

    index: int
    s_public: bytes


def add_prg(target: Words, seed: bytes, sign: int = 1) -> None:
    """target += sign * PRG(seed, len(target)) mod 2^32, in place, a chunk at a time."""
    offset = 0
    for chunk in prg_chunks(seed, target.size):
        part = target[offset : offset + chunk.size]
        if sign >= 0:
            np.add(part, chunk, out=part)
        else:
            np.subtract(part, chunk, out=part)
        offset += chunk.size


def mask_words(words: Words, round_id: str, index: int, b_seed: bytes, s_private: bytes, peers: Sequence[Peer]) -> Words:
    """y_u = x_u + PRG(b_u) + Σ_{index_v > index_u} PRG(s_uv) − Σ_{index_v < index_u} PRG(s_uv), in
    place on `words` (which it returns). `peers` are the other members of U2 = sharers."""
    add_prg(words, b_seed, 1)
    for peer in peers:
        if peer.index == index:
            raise ValueError("a peer cannot have the client's own index")
        add_prg(words, pairwise_seed(s_private, peer.s_public, round_id), 1 if peer.index > index else -1)
    return words


# --- share encryption ------------------------------------------------------------------------


def aead_encrypt(key: bytes, plaintext: bytes, aad: bytes, nonce: bytes | None = None) -> str:
    """AES-256-GCM; on the wire base64(nonce ‖ ciphertext ‖ tag). The nonce is random unless given."""
    nonce = secrets.token_bytes(NONCE_BYTES) if nonce is None else nonce
    if len(nonce) != NONCE_BYTES:
        raise ValueError(f"the nonce is {NONCE_BYTES} bytes")
    return base64.b64encode(nonce + AESGCM(key).encrypt(nonce, plaintext, aad)).decode("ascii")


def aead_decrypt(key: bytes, wire: str, aad: bytes) -> bytes:
    """The plaintext of `aead_encrypt`'s output; cryptography's InvalidTag if anything differs."""
    raw = base64.b64decode(wire, validate=True)
    if len(raw) < NONCE_BYTES + 16:
        raise ValueError("the ciphertext is too short")
    return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)


def share_aad(round_id: str, sender: str, recipient: str) -> bytes:
    return f"{round_id}|{sender}|{recipient}".encode("utf-8")


def share_plaintext(round_id: str, sender: str, recipient: str, b_share: str, sk_share: str) -> bytes:
    """The UTF-8 JSON object {"round", "from", "to", "b", "sk"} (compact, in that key order)."""
    body = {"round": round_id, "from": sender, "to": recipient, "b": b_share, "sk": sk_share}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def encrypt_shares_for(
    round_id: str, sender: str, recipient: str, c_private: bytes, c_public_recipient: bytes, b_share: str, sk_share: str, nonce: bytes | None = None
) -> str:
    key = share_key(c_private, c_public_recipient, round_id)
    return aead_encrypt(key, share_plaintext(round_id, sender, recipient, b_share, sk_share), share_aad(round_id, sender, recipient), nonce)


def decrypt_shares_from(round_id: str, sender: str, recipient: str, c_private: bytes, c_public_sender: bytes, ciphertext: str) -> tuple[int, int]:
    """The (b, sk) shares that `sender` sent `recipient`, checked: ValueError if they do not decrypt
    or do not name this round, this sender and this recipient."""
    key = share_key(c_private, c_public_sender, round_id)
    try:
        plaintext = aead_decrypt(key, ciphertext, share_aad(round_id, sender, recipient))
    except (InvalidTag, ValueError) as error:
        raise ValueError(f"the shares from {sender} do not decrypt") from error
    body = json.loads(plaintext.decode("utf-8"))
    if not isinstance(body, dict) or body.get("round") != round_id or body.get("from") != sender or body.get("to") != recipient:
        raise ValueError(f"the shares from {sender} name another round, sender or recipient")
    return share_from_hex(str(body.get("b"))), share_from_hex(str(body.get("sk")))


# --- one client's round ----------------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError("a public key is base64 text")
    raw = base64.b64decode(text, validate=True)
    if len(raw) != 32:
        raise ValueError("a public key is 32 bytes")
    return raw


class _WordsBody:
    """A PUT body over a uint32 vector's little-endian bytes, 4 MiB at a time, re-iterable."""

    def __init__(self, words: Words) -> None:
        self.raw = words.astype("<u4", copy=False).data.cast("B")

    def __len__(self) -> int:
        return len(self.raw)

    def __iter__(self) -> Iterator[memoryview]:
        for start in range(0, len(self.raw), 4 * CHUNK_WORDS):
            yield self.raw[start : start + 4 * CHUNK_WORDS]


@dataclass
class _Secrets:
    c: KeyPair
    s: KeyPair
    b: bytes


@dataclass
class SecureRoundParticipant:
    """One client's secure round, a stage per method. Each stage waits (polling the round every
    `poll_interval` s) for the stage before it to close, and raises SecureRoundError if the round
    failed or left this client out. Stopping after any stage is a dropout.

    >>> participant = SecureRoundParticipant(client)            # doctest: +SKIP
    >>> participant.advertise(); participant.share()             # doctest: +SKIP
    >>> participant.masked_input(values); participant.reveal()   # doctest: +SKIP
    >>> final = participant.wait_for_result()                    # doctest: +SKIP
    """

    client: FmaClient
    poll_interval: float = 1.0
    timeout: float = 3600.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    #: The round as last read.
    round: dict[str, Any] = field(default_factory=dict)
    _secrets: _Secrets | None = None
    _started: float | None = None
    #: This client's own shares (at its own index): (b, sk).
    _own_shares: tuple[int, int] | None = None
    #: Shares received, by sender: (b, sk) at this client's index.
    _received: dict[str, tuple[int, int]] = field(default_factory=dict)

    # --- the round ---

    @property
    def me(self) -> str:
        """This client as the round names it: the round's `caller` (the client's public id; its
        UUID is a credential that others never see), or its UUID where a round has no `caller`."""
        if "caller" in self.round:
            caller = self.round["caller"]
            if not isinstance(caller, str) or not caller:
                raise SecureRoundError("the round does not name this client (no caller: is CLIENT-UUID sent?)", self.round)
            return caller
        if not self.client.uuid:
            raise SecureRoundError("the client has no uuid: register it first")
        return self.client.uuid

    @property
    def number(self) -> int:
        return int(self.round["round"])

    @property
    def round_id(self) -> str:
        return str(self.round["id"])

    def _path(self, tail: str = "") -> str:
        return f"models/{self.client.federated_model_id}/secure_round/{tail}"

    def fetch(self) -> dict[str, Any]:
        """Reads the round again (GET secure_round/?round=N)."""
        answer = self.client._http.api("GET", self._path(), params={"round": self.number})
        self.round = _as_round(answer.body)
        return self.round

    def wait_while(self, *statuses: str) -> dict[str, Any]:
        """Polls the round until its status is none of `statuses`; SecureRoundError if it failed or
        if the participant's `timeout` (from its first stage) passes."""
        while self.round.get("status") in statuses:
            if self._started is not None and self.clock() - self._started > self.timeout:
                raise SecureRoundError(f"round {self.round_id} was still {self.round.get('status')} after {self.timeout} s", self.round)
            self.sleep(self.poll_interval)
            self.fetch()
        if self.round.get("status") == "failed":
            raise SecureRoundError(f"round {self.round_id} failed: {self.round.get('failure_reason')}", self.round)
        return self.round

    def _participant(self, client: str) -> dict[str, Any]:
        for entry in self.round.get("participants") or []:
            if isinstance(entry, dict) and entry.get("client") == client:
                return entry
        raise SecureRoundError(f"{client} is not among round {self.round_id}'s participants", self.round)

    def _require(self, member: str, group: str) -> None:
        if member not in (self.round.get(group) or []):
            raise SecureRoundError(f"not among this round's {group}", self.round)

    def _index(self) -> int:
        return int(self._participant(self.me)["index"])

    # --- stages ---

    def advertise(self, values: Any = None) -> dict[str, Any]:
        """Stage 1: makes the c and s key pairs and the seed b, and POSTs the public keys (joining
        the open round, or opening one). Returns the round.

        With `values` (the update to come), their count goes along as `shapes: [[count]]`, as the
        TypeScript SDK sends it: it opens a model's first round (a model without weights takes
        that shape), and the service checks it against a model's weights otherwise."""
        if self._secrets is not None:
            raise SecureRoundError("this participant has advertised already (one participant is one round)")
        count = None if values is None else prepare_weights(values).length
        self._started = self.clock()
        self._secrets = _Secrets(KeyPair.generate(), KeyPair.generate(), secrets.token_bytes(SECRET_BYTES))
        body: dict[str, Any] = {"c_public_key": _b64(self._secrets.c.public), "s_public_key": _b64(self._secrets.s.public)}
        if count is not None:
            body["shapes"] = [[count]]
        self.round = _as_round(self.client._http.api("POST", self._path("keys/"), body).body)
        return self.round

    def wait_for_participants(self) -> dict[str, Any]:
        self.wait_while("advertising")
        try:
            self._participant(self.me)
        except SecureRoundError:
            raise SecureRoundError("not among this round's participants", self.round) from None
        return self.round

    def share(self) -> dict[str, Any]:
        """Stage 2: once the participants are fixed, Shamir-shares b and s_sk among them (threshold
        t), encrypts each other participant's pair for it and POSTs them. Keeps its own."""
        secrets_ = self._need_secrets()
        self.wait_for_participants()
        threshold = int(self.round["threshold"])
        participants = [entry for entry in self.round["participants"] if isinstance(entry, dict)]
        xs = [int(entry["index"]) for entry in participants]
        b_shares = shamir_split(secrets_.b, threshold, xs)
        sk_shares = shamir_split(secrets_.s.private, threshold, xs)
        me, index = self.me, self._index()
        self._own_shares = (b_shares[index], sk_shares[index])
        out = []
        for entry in participants:
            other = str(entry["client"])
            if other == me:
                continue
            x = int(entry["index"])
            ciphertext = encrypt_shares_for(
                self.round_id, me, other, secrets_.c.private, _unb64(entry["c_public_key"]), share_to_hex(b_shares[x]), share_to_hex(sk_shares[x])
            )
            out.append({"to": other, "ciphertext": ciphertext})
        self.client._http.api("POST", self._path("shares/"), {"round": self.number, "shares": out})
        return self.round

    def wait_for_sharers(self) -> dict[str, Any]:
        self.wait_while("advertising", "sharing")
        self._require(self.me, "sharers")
        return self.round

    def masked_input(self, values: Any, num_examples: int | None = None) -> dict[str, Any]:
        """Stage 3: once the sharers are fixed, reads and checks the shares sent to this client,
        encodes `values` (weight `num_examples` when the round is weighted, else 1), masks them
        over U2 = sharers and uploads the bytes (declare, PUT, complete)."""
        secrets_ = self._need_secrets()
        self.wait_for_sharers()
        me, index = self.me, self._index()
        sharers = [str(client) for client in self.round["sharers"]]
        answer = _as_dict(self.client._http.api("GET", self._path("shares/"), params={"round": self.number}).body)
        self._received = {}
        for item in answer.get("shares") or []:
            sender = str(item.get("from"))
            if sender not in sharers or sender == me:
                continue  # the protocol ignores shares from clients that are not sharers
            c_public = _unb64(self._participant(sender)["c_public_key"])
            try:
                self._received[sender] = decrypt_shares_from(self.round_id, sender, me, secrets_.c.private, c_public, str(item.get("ciphertext")))
            except ValueError as error:
                raise SecureRoundError(str(error), self.round) from error

        weight = 1
        if self.round.get("weighted"):
            if num_examples is None:
                raise ValueError("this round is weighted: give num_examples")
            max_weight = int(self.round.get("max_weight") or 1)
            if isinstance(num_examples, bool) or int(num_examples) != num_examples or not 1 <= num_examples <= max_weight:
                raise ValueError(f"num_examples must be an integer in [1, {max_weight}] (the model's max_weight)")
            weight = int(num_examples)
        words = encode_fixed_point(values, float(self.round["clip_range"]), int(self.round.get("bits") or 16), weight)
        expected = self.round.get("length")
        if isinstance(expected, int) and words.size != expected + 1:
            raise ValueError(f"the round has {expected} values, the update {words.size - 1}")
        peers = [
            Peer(int(entry["index"]), _unb64(entry["s_public_key"]))
            for entry in self.round["participants"]
            if entry["client"] in sharers and entry["client"] != me
        ]
        mask_words(words, self.round_id, index, secrets_.b, secrets_.s.private, peers)
        self._upload(words)
        return self.round

    def _upload(self, words: Words) -> None:
        body = _WordsBody(words)
        sha256 = hashlib.sha256(body.raw).hexdigest()
        declared = _as_dict(self.client._http.api("POST", self._path("masked_input/"), {"round": self.number, "sha256": sha256}).body)
        if declared.get("byte_size") not in (None, len(body)):
            raise FmaApiError(201, declared, f"the service expects {declared.get('byte_size')} bytes, not {len(body)}")
        # The URL's signed headers; requests sets Content-Length (from the body) and Host itself.
        headers = {str(k): str(v) for k, v in (declared.get("headers") or {}).items() if str(k).lower() not in ("content-length", "host")}
        content_type = next((headers.pop(k) for k in list(headers) if k.lower() == "content-type"), "application/octet-stream")
        self.client._http.put_presigned(str(declared["url"]), body, content_type, headers)
        complete = declared.get("complete")
        path = complete if isinstance(complete, str) and complete else self._path("masked_input/complete/")
        completion = {"round": self.number, "upload": declared["upload"]}
        deadline = self.clock() + self.timeout
        while True:
            answer = self.client._http.api("POST", path, completion)
            if answer.status != 202 or self.clock() > deadline:
                return
            self.sleep(self.poll_interval)

    def wait_for_maskers(self) -> dict[str, Any]:
        self.wait_while("advertising", "sharing", "masking")
        self._require(self.me, "maskers")
        return self.round

    def reveal_shares(self) -> list[dict[str, str]]:
        """What this client reveals: for each other sharer v, v's b share when v is a masker, else
        v's sk share; its own b share. Never both kinds for one client."""
        if self._own_shares is None:
            raise SecureRoundError("this participant has not shared")
        sharers = [str(client) for client in self.round.get("sharers") or []]
        maskers = {str(client) for client in self.round.get("maskers") or []}
        threshold = int(self.round["threshold"])
        if len(maskers) < threshold:
            raise SecureRoundError(f"only {len(maskers)} maskers, fewer than the threshold {threshold}: nothing is revealed", self.round)
        out = [{"of": self.me, "kind": "b", "share": share_to_hex(self._own_shares[0])}]
        for sharer in sharers:
            if sharer == self.me or sharer not in self._received:
                continue
            b_share, sk_share = self._received[sharer]
            if sharer in maskers:
                out.append({"of": sharer, "kind": "b", "share": share_to_hex(b_share)})
            else:
                out.append({"of": sharer, "kind": "sk", "share": share_to_hex(sk_share)})
        return out

    def reveal(self) -> dict[str, Any]:
        """Stage 4: once the maskers are fixed, POSTs this client's reveal."""
        self.wait_for_maskers()
        self.client._http.api("POST", self._path("reveal/"), {"round": self.number, "shares": self.reveal_shares()})
        return self.round

    def wait_for_result(self) -> dict[str, Any]:
        """Polls until the round is complete (returned) or failed (SecureRoundError)."""
        self.wait_while("advertising", "sharing", "masking", "unmasking", "summing")
        if self.round.get("status") != "complete":
            raise SecureRoundError(f"round {self.round_id} ended as {self.round.get('status')}", self.round)
        return self.round

    def run(self, values: Any, num_examples: int | None = None, *, drop_after: str | None = None) -> dict[str, Any]:
        """The four stages and the result. With `drop_after` (a stage name) the client stops taking
        part after that stage and only waits, reading, for the round to end."""
        if drop_after is not None and drop_after not in STAGES:
            raise ValueError(f"drop_after must be one of {', '.join(STAGES)}")
        steps: list[tuple[str, Callable[[], object]]] = [
            ("advertise", lambda: self.advertise(values)),
            ("share", self.share),
            ("masked_input", lambda: self.masked_input(values, num_examples)),
            ("reveal", self.reveal),
        ]
        for name, step in steps:
            step()
            if name == drop_after:
                break
        return self.wait_for_result()

    def _need_secrets(self) -> _Secrets:
        if self._secrets is None:
            raise SecureRoundError("advertise() first")
        return self._secrets


def _as_dict(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise FmaApiError(200, body, "the service answered something other than a JSON object")
    return body


def _as_round(body: Any) -> dict[str, Any]:
    found = _as_dict(body)
    if not isinstance(found.get("round"), int) or not isinstance(found.get("id"), str):
        raise FmaApiError(200, body, "the service answered no secure round (round, id)")
    return found


# --- command line ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """One participant of a secure round: prints the final round as JSON (exit 0), or the error on
    stderr (exit 1)."""
    from .client import FmaClient
    from .errors import FmaError

    parser = argparse.ArgumentParser(prog="python -m fma_serverless.secure_aggregation", description=main.__doc__)
    parser.add_argument("--base-url", required=True, help="the service, e.g. http://127.0.0.1:3000")
    parser.add_argument("--model", required=True, type=int, help="the federated model's id")
    parser.add_argument("--client-uuid", required=True, help="the registered client's UUID (its credential, sent as CLIENT-UUID)")
    parser.add_argument("--values-file", required=True, help="a .npy file of the update's values (any shape, flattened in order)")
    parser.add_argument("--num-examples", type=int, default=None, help="the weight, for weighted rounds")
    parser.add_argument("--drop-after", choices=STAGES[:3], default=None, help="stop taking part after this stage (then only wait for the round's end)")
    parser.add_argument("--poll-interval", type=float, default=0.5)
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds for the whole round")
    args = parser.parse_args(argv)
    try:
        values = np.load(args.values_file, allow_pickle=False)
        client = FmaClient(args.base_url, args.model, uuid=args.client_uuid)
        participant = SecureRoundParticipant(client, poll_interval=args.poll_interval, timeout=args.timeout)
        final = participant.run(values, args.num_examples, drop_after=args.drop_after)
    except (FmaError, ValueError, OSError) as error:
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(json.dumps(final))
    return 0


if __name__ == "__main__":
    sys.exit(main())
