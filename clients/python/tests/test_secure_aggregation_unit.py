"""fma_serverless.secure_aggregation without the service: the primitives of fma-secagg/v1
(docs/secure-aggregation-protocol.md) against direct computations, the interoperability vectors
(this package's and, when present, the TypeScript SDK's), whole rounds with a dropout unmasked by
a reference unmasking written here, and SecureRoundParticipant, FmaClient.secure_round and the
command line against an in-memory imitation of the service's secure_round routes.

None of these tests uses conftest's fixtures (which need FMA_BASE_URL)."""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import json
import threading
import tracemalloc
import uuid
from collections.abc import Mapping, Sequence
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
import requests
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from fma_serverless import FmaClient, SecureRoundError
from fma_serverless import secure_aggregation as sa

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PY_VECTORS = FIXTURES / "secure-aggregation-vectors-py.json"
TS_VECTORS = Path(__file__).resolve().parents[3] / "test" / "fixtures" / "secure-aggregation" / "vectors-ts.json"


def aes_ctr_zeros(seed: bytes, nbytes: int) -> bytes:
    encryptor = Cipher(algorithms.AES(seed), modes.CTR(bytes(16))).encryptor()
    return encryptor.update(bytes(nbytes)) + encryptor.finalize()


# --- PRG -------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_words", [1, 3, 4, 7, 1000])
def test_prg_chunks_are_one_aes_ctr_keystream_of_zeros_read_as_little_endian_words(chunk_words: int) -> None:
    seed = bytes(range(32))
    expected = np.frombuffer(aes_ctr_zeros(seed, 4 * 101), dtype="<u4")
    chunks = list(sa.prg_chunks(seed, 101, chunk_words))
    assert [chunk.size for chunk in chunks[:-1]] == [chunk_words] * (len(chunks) - 1)
    assert np.array_equal(np.concatenate(chunks), expected)


def test_prg_across_its_default_chunk_boundary_equals_the_direct_keystream() -> None:
    seed = hashlib.sha256(b"seed").digest()
    length = sa.CHUNK_WORDS + 5  # a 16-byte AES block never straddles a chunk: 4 MiB is a multiple of 16
    words = sa.prg(seed, length)
    assert words.dtype == np.uint32 and words.size == length
    assert words.tobytes() == aes_ctr_zeros(seed, 4 * length)
    assert np.array_equal(sa.prg(seed, 7), words[:7])
    assert sa.prg(seed, 0).size == 0
    # the counter is the whole 128-bit block: word 4 starts block 1 (counter 1)
    block1 = Cipher(algorithms.AES(seed), modes.ECB()).encryptor().update((1).to_bytes(16, "big"))
    assert words[4:8].tobytes() == block1
    with pytest.raises(ValueError):
        sa.prg(bytes(16), 4)


# --- Shamir ----------------------------------------------------------------------------------


def test_shamir_any_t_of_n_shares_give_the_secret_and_fewer_do_not() -> None:
    secret = hashlib.sha256(b"secret").digest()
    shares = sa.shamir_split(secret, 3, [1, 2, 3, 4, 5])
    for chosen in itertools.combinations(shares.items(), 3):
        assert sa.shamir_reconstruct(list(chosen)) == secret
    for chosen in itertools.combinations(shares.items(), 4):
        assert sa.shamir_reconstruct(dict(chosen)) == secret
    assert sa.shamir_reconstruct(shares) == secret
    for chosen in itertools.combinations(shares.items(), 2):
        try:
            assert sa.shamir_reconstruct(list(chosen)) != secret
        except ValueError:
            pass  # almost surely: the interpolation of 2 random-looking points is not < 2^256


def test_shamir_with_fixed_coefficients_is_the_polynomial_and_the_wire_format_is_66_bytes_of_hex() -> None:
    secret = (0xFF).to_bytes(32, "big")
    shares = sa.shamir_split(secret, 3, [1, 2, 7], [5, sa.PRIME - 1])
    for x, y in shares.items():
        assert y == (0xFF + 5 * x + (sa.PRIME - 1) * x * x) % sa.PRIME
    text = sa.share_to_hex(shares[7])
    assert len(text) == 132 and text == text.lower() and sa.share_from_hex(text) == shares[7]
    assert sa.share_to_hex(1) == "00" * 65 + "01"
    for bad in ["00" * 65, "0" * 131 + "G", "0" * 130 + "AB", "01" + "ff" * 65]:  # the last is p itself
        with pytest.raises(ValueError):
            sa.share_from_hex(bad)
    with pytest.raises(ValueError):
        sa.shamir_split(secret, 3, [1, 2], [1])  # two coefficients for t = 3
    with pytest.raises(ValueError):
        sa.shamir_split(secret, 2, [1, 1])
    with pytest.raises(ValueError):
        sa.shamir_split(secret, 2, [0, 1])


# --- fixed point -----------------------------------------------------------------------------


def reference_word(x: float, c: float, bits: int, w: int) -> int:
    s = 2 ** (bits - 1) - 1
    clipped = min(max(float(x), -c), c)
    q = int(np.floor((clipped / c) * s + 0.5))
    return (w * q) % 2**32


def test_fixed_point_encoding_clips_rounds_half_up_and_wraps_negative_words() -> None:
    s = 32767
    values = [0.0, -0.0, 1.0, -1.0, 5.0, -5.0, 0.5 / s, -0.5 / s, 1.5 / s, -1.5 / s, 0.1234, -0.999999, 1e-300, -1e300]
    words = sa.encode_fixed_point(np.array(values), 1.0, 16, 1)
    assert words.dtype == np.uint32 and words.size == len(values) + 1
    assert words.tolist() == [reference_word(x, 1.0, 16, 1) for x in values] + [1]
    assert words[:6].view(np.int32).tolist() == [0, 0, s, -s, s, -s]
    # halves round up (floor(v + 0.5)): 0.5 -> 1, -0.5 -> 0, 1.5 -> 2, -1.5 -> -1
    assert words[6:10].view(np.int32).tolist() == [1, 0, 2, -1]
    weighted = sa.encode_fixed_point([0.5, -0.25, 2.0], 2.0, 8, 1000)
    assert weighted.tolist() == [reference_word(x, 2.0, 8, 1000) for x in [0.5, -0.25, 2.0]] + [1000]
    assert weighted.view(np.int32).tolist() == [32000, -16000, 127000, 1000]


def test_fixed_point_encoding_flattens_layers_in_send_update_order_whatever_their_dtype() -> None:
    rng = np.random.default_rng(5)
    layers = [rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal(5), rng.standard_normal((2, 1, 2)).T]
    flat = np.concatenate([np.ascontiguousarray(layer).reshape(-1).astype(np.float64) for layer in layers])
    assert np.array_equal(sa.encode_fixed_point(layers, 0.75, 12, 2), sa.encode_fixed_point(flat, 0.75, 12, 2))
    assert np.array_equal(sa.encode_fixed_point({"w": layers[0], "b": layers[1]}, 1, 16), sa.encode_fixed_point(layers[:2], 1, 16))
    assert sa.encode_fixed_point([0.25, 0.5], 1, 16).tolist() == [8192, 16384, 1]  # a flat list is a vector


def test_fixed_point_encoding_refuses_what_it_cannot_encode() -> None:
    for bad in [np.array([1.0, np.nan]), np.array([np.inf])]:
        with pytest.raises(ValueError, match="finite"):
            sa.encode_fixed_point(bad, 1.0, 16)
    for weight in [0, -1, 2**31, 1.5, True]:
        with pytest.raises(ValueError, match="weight"):
            sa.encode_fixed_point([0.1], 1.0, 16, weight)  # type: ignore[arg-type]
    for clip in [0.0, -1.0, float("inf")]:
        with pytest.raises(ValueError, match="clip_range"):
            sa.encode_fixed_point([0.1], clip, 16)
    with pytest.raises(ValueError, match="bits"):
        sa.encode_fixed_point([0.1], 1.0, 33)


def test_a_sum_of_encodings_decodes_to_the_mean_within_half_a_step() -> None:
    rng = np.random.default_rng(1)
    updates = [rng.uniform(-1.2, 1.2, 1000) for _ in range(5)]
    total = sum((sa.encode_fixed_point(u, 1.0, 16) for u in updates), np.zeros(1001, dtype=np.uint32))
    mean = sa.decode_sum(total, 1.0, 16)
    expected = np.mean([np.clip(u, -1, 1) for u in updates], axis=0)
    assert mean.dtype == np.float32
    assert np.max(np.abs(mean - expected)) <= 1.0 / (2 * 32767) + 1e-7


# --- X25519, HKDF, AEAD ----------------------------------------------------------------------


def test_x25519_agreement_is_symmetric_and_the_keys_derived_from_it_differ_by_info_and_round() -> None:
    a, b = sa.KeyPair.generate(), sa.KeyPair.generate()
    assert sa.KeyPair.from_private(a.private) == a and len(a.public) == 32
    assert sa.x25519(a.private, b.public) == sa.x25519(b.private, a.public)
    assert sa.pairwise_seed(a.private, b.public, "1:1") == sa.pairwise_seed(b.private, a.public, "1:1")
    assert sa.pairwise_seed(a.private, b.public, "1:1") != sa.pairwise_seed(a.private, b.public, "1:2")
    assert sa.pairwise_seed(a.private, b.public, "1:1") != sa.share_key(a.private, b.public, "1:1")


def test_aead_round_trip_and_refusals() -> None:
    key = hashlib.sha256(b"k").digest()
    wire = sa.aead_encrypt(key, b"hello", b"7:2|a|b")
    raw = base64.b64decode(wire)
    assert len(raw) == 12 + 5 + 16
    assert sa.aead_decrypt(key, wire, b"7:2|a|b") == b"hello"
    assert sa.aead_encrypt(key, b"hello", b"7:2|a|b") != wire  # a random nonce each time
    with pytest.raises(InvalidTag):
        sa.aead_decrypt(key, wire, b"7:2|a|c")
    with pytest.raises(InvalidTag):
        sa.aead_decrypt(hashlib.sha256(b"other").digest(), wire, b"7:2|a|b")
    tampered = bytearray(raw)
    tampered[14] ^= 1
    with pytest.raises(InvalidTag):
        sa.aead_decrypt(key, base64.b64encode(bytes(tampered)).decode(), b"7:2|a|b")


def test_encrypted_shares_decrypt_only_for_their_recipient_round_and_sender() -> None:
    u, v, w = sa.KeyPair.generate(), sa.KeyPair.generate(), sa.KeyPair.generate()
    b_hex, sk_hex = sa.share_to_hex(12345), sa.share_to_hex(sa.PRIME - 2)
    wire = sa.encrypt_shares_for("3:1", "u", "v", u.private, v.public, b_hex, sk_hex)
    assert sa.decrypt_shares_from("3:1", "u", "v", v.private, u.public, wire) == (12345, sa.PRIME - 2)
    for round_id, sender, recipient, private, public in [
        ("3:2", "u", "v", v.private, u.public),  # another round: another key and AAD
        ("3:1", "w", "v", v.private, u.public),  # another sender in the AAD
        ("3:1", "u", "w", v.private, u.public),  # another recipient in the AAD
        ("3:1", "u", "v", w.private, u.public),  # another recipient's key
    ]:
        with pytest.raises(ValueError, match="decrypt"):
            sa.decrypt_shares_from(round_id, sender, recipient, private, public, wire)
    # a well-encrypted plaintext that names someone else is refused too
    key = sa.share_key(u.private, v.public, "3:1")
    lying = sa.aead_encrypt(key, sa.share_plaintext("3:1", "u", "x", b_hex, sk_hex), sa.share_aad("3:1", "u", "v"))
    with pytest.raises(ValueError, match="name another"):
        sa.decrypt_shares_from("3:1", "u", "v", v.private, u.public, lying)
    assert json.loads(sa.share_plaintext("3:1", "u", "v", b_hex, sk_hex)) == {"round": "3:1", "from": "u", "to": "v", "b": b_hex, "sk": sk_hex}


# --- whole rounds, with the reference unmasking ----------------------------------------------


def reference_unmask(
    round_id: str,
    length: int,
    threshold: int,
    participants: Mapping[str, tuple[int, bytes]],
    sharers: Sequence[str],
    maskers: Sequence[str],
    masked: Mapping[str, np.ndarray],
    reveals: Mapping[str, Sequence[Mapping[str, str]]],
) -> np.ndarray:
    """The service's unmasking as the protocol doc states it, written independently of the package's
    masking: Σ y_u − Σ PRG(b_u) − Σ_{v∈D} Σ_{u∈U3} ε_uv PRG(s_vu), with Python integers mod 2^32."""
    dropped = [v for v in sharers if v not in maskers]
    collected: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for revealer, items in reveals.items():
        for item in items:
            collected.setdefault((item["of"], item["kind"]), []).append((participants[revealer][0], sa.share_from_hex(item["share"])))

    def secret(of: str, kind: str) -> bytes:
        shares = collected.get((of, kind), [])
        if len(shares) < threshold:
            raise AssertionError(f"fewer than {threshold} {kind} shares of {of}")
        return sa.shamir_reconstruct(shares[:threshold])

    def words(seed: bytes) -> list[int]:
        stream = aes_ctr_zeros(seed, 4 * length)
        return [int.from_bytes(stream[4 * i : 4 * i + 4], "little") for i in range(length)]

    total = [0] * length
    for u in maskers:
        for i, y in enumerate(masked[u].tolist()):
            total[i] += y
        for i, mask in enumerate(words(secret(u, "b"))):
            total[i] -= mask
    for v in dropped:
        s_sk_v = secret(v, "sk")
        index_v = participants[v][0]
        for u in maskers:
            index_u, s_pk_u = participants[u]
            seed = sa.hkdf(sa.x25519(s_sk_v, s_pk_u), round_id, "fma-secagg/v1 pairwise mask")
            sign = 1 if index_v > index_u else -1  # ε_uv: what u added for v
            for i, mask in enumerate(words(seed)):
                total[i] -= sign * mask
    return np.array([t % 2**32 for t in total], dtype=np.uint32)


def test_a_five_client_round_with_a_dropout_after_sharing_unmasks_to_the_sum_of_the_encodings() -> None:
    round_id, threshold, length = "42:1", 3, 9
    rng = np.random.default_rng(3)
    ids = [f"client-{n}" for n in range(1, 6)]
    index = {client: n + 1 for n, client in enumerate(ids)}
    c_keys = {client: sa.KeyPair.generate() for client in ids}
    s_keys = {client: sa.KeyPair.generate() for client in ids}
    b_seeds = {client: hashlib.sha256(client.encode()).digest() for client in ids}
    values = {client: rng.uniform(-1.5, 1.5, length - 1) for client in ids}

    # Share: every client shares b and s_sk among all five, encrypted for each other client.
    inbox: dict[str, dict[str, str]] = {client: {} for client in ids}
    own: dict[str, tuple[int, int]] = {}
    for u in ids:
        b_shares = sa.shamir_split(b_seeds[u], threshold, list(index.values()))
        sk_shares = sa.shamir_split(s_keys[u].private, threshold, list(index.values()))
        own[u] = (b_shares[index[u]], sk_shares[index[u]])
        for v in ids:
            if v != u:
                x = index[v]
                inbox[v][u] = sa.encrypt_shares_for(
                    round_id, u, v, c_keys[u].private, c_keys[v].public, sa.share_to_hex(b_shares[x]), sa.share_to_hex(sk_shares[x])
                )
    sharers = ids
    maskers = ids[:2] + ids[3:]  # client-3 drops out after sharing: no masked input
    received = {v: {u: sa.decrypt_shares_from(round_id, u, v, c_keys[v].private, c_keys[u].public, ct) for u, ct in inbox[v].items()} for v in ids}

    masked = {}
    for u in maskers:
        words = sa.encode_fixed_point(values[u], 1.0, 16, 1)
        peers = [sa.Peer(index[v], s_keys[v].public) for v in sharers if v != u]
        masked[u] = sa.mask_words(words, round_id, index[u], b_seeds[u], s_keys[u].private, peers)
        assert not np.array_equal(masked[u], sa.encode_fixed_point(values[u], 1.0, 16, 1))

    reveals: dict[str, list[dict[str, str]]] = {}
    for u in maskers:
        items = [{"of": u, "kind": "b", "share": sa.share_to_hex(own[u][0])}]
        for v in sharers:
            if v != u:
                b_share, sk_share = received[u][v]
                items.append({"of": v, "kind": "b", "share": sa.share_to_hex(b_share)} if v in maskers else {"of": v, "kind": "sk", "share": sa.share_to_hex(sk_share)})
        reveals[u] = items
    participants = {client: (index[client], s_keys[client].public) for client in ids}
    total = reference_unmask(round_id, length, threshold, participants, sharers, maskers, masked, reveals)

    encodings = [sa.encode_fixed_point(values[u], 1.0, 16, 1).view(np.int32).astype(np.int64) for u in maskers]
    assert total.view(np.int32).tolist() == np.sum(encodings, axis=0).tolist()
    assert total[-1] == len(maskers)


def test_masking_a_long_vector_holds_no_more_than_the_vector_and_a_few_chunks() -> None:
    length = 3 * sa.CHUNK_WORDS + 11
    words = np.zeros(length, dtype=np.uint32)
    peers = [sa.Peer(i, sa.KeyPair.generate().public) for i in (1, 3, 4)]
    tracemalloc.start()
    try:
        sa.mask_words(words, "1:1", 2, bytes(32), sa.KeyPair.generate().private, peers)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= 3 * 4 * sa.CHUNK_WORDS + 1_000_000, f"masking took {peak} bytes besides the vector"
    values = np.zeros(length - 1, dtype=np.float32)
    tracemalloc.start()
    try:
        encoded = sa.encode_fixed_point(values, 1.0, 16)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= encoded.nbytes + 6 * 8 * sa.CHUNK_WORDS, f"encoding took {peak} bytes"


# --- interoperability vectors ----------------------------------------------------------------


def check_vectors(vectors: dict[str, Any]) -> None:
    """Recomputes every value of a vectors file from the inputs it holds."""
    assert set(vectors) == {"round_id", "prg", "x25519", "shamir", "fixed_point", "aead", "round"}
    round_id = vectors["round_id"]

    prg = vectors["prg"]
    assert sa.prg(bytes.fromhex(prg["seed_hex"]), len(prg["words"])).tolist() == prg["words"]

    x = vectors["x25519"]
    a_private, b_private = bytes.fromhex(x["a_private_hex"]), bytes.fromhex(x["b_private_hex"])
    assert sa.public_key_of(a_private).hex() == x["a_public_hex"] and sa.public_key_of(b_private).hex() == x["b_public_hex"]
    b_public = bytes.fromhex(x["b_public_hex"])
    assert sa.x25519(a_private, b_public).hex() == x["shared_hex"] == sa.x25519(b_private, bytes.fromhex(x["a_public_hex"])).hex()
    assert sa.pairwise_seed(a_private, b_public, round_id).hex() == x["pairwise_seed_hex"]
    assert sa.share_key(a_private, b_public, round_id).hex() == x["share_key_hex"]

    shamir = vectors["shamir"]
    secret = bytes.fromhex(shamir["secret_hex"])
    coefficients = [int(a, 16) for a in shamir["coefficients_hex"]]
    xs = [share["x"] for share in shamir["shares"]]
    shares = sa.shamir_split(secret, shamir["threshold"], xs, coefficients)
    assert [sa.share_to_hex(shares[x]) for x in xs] == [share["y_hex"] for share in shamir["shares"]]
    for chosen in itertools.combinations(shamir["shares"], shamir["threshold"]):
        assert sa.shamir_reconstruct([(share["x"], sa.share_from_hex(share["y_hex"])) for share in chosen]) == secret

    fixed = vectors["fixed_point"]
    assert sa.encode_fixed_point(fixed["values"], fixed["clip_range"], fixed["bits"], fixed["weight"]).tolist() == fixed["words"]

    aead = vectors["aead"]
    key, nonce = bytes.fromhex(aead["key_hex"]), bytes.fromhex(aead["nonce_hex"])
    plaintext, aad = aead["plaintext"].encode("utf-8"), aead["aad"].encode("utf-8")
    assert sa.aead_encrypt(key, plaintext, aad, nonce) == aead["ciphertext_b64"]
    assert sa.aead_decrypt(key, aead["ciphertext_b64"], aad) == plaintext
    body = json.loads(plaintext)
    assert set(body) == {"round", "from", "to", "b", "sk"} and body["round"] == round_id
    assert aad == sa.share_aad(round_id, body["from"], body["to"])
    sa.share_from_hex(body["b"]), sa.share_from_hex(body["sk"])

    game = vectors["round"]
    clients = game["clients"]
    participants = {client["id"]: (client["index"], sa.public_key_of(bytes.fromhex(client["s_private_hex"]))) for client in clients}
    total = np.zeros(len(game["masked_words"][0]), dtype=np.uint32)
    for client, expected in zip(clients, game["masked_words"]):
        words = sa.encode_fixed_point(client["values"], game["clip_range"], game["bits"], game["weight"])
        peers = [sa.Peer(index, public) for other, (index, public) in participants.items() if other != client["id"]]
        sa.mask_words(words, round_id, client["index"], bytes.fromhex(client["b_seed_hex"]), bytes.fromhex(client["s_private_hex"]), peers)
        assert words.tolist() == expected
        total += np.asarray(expected, dtype=np.uint32)
        total -= sa.prg(bytes.fromhex(client["b_seed_hex"]), total.size)
    encodings = sum(sa.encode_fixed_point(c["values"], game["clip_range"], game["bits"], game["weight"]) for c in clients)
    assert np.array_equal(total, encodings)  # with no dropout the pairwise masks cancel


def test_this_package_reproduces_its_own_interoperability_vectors_of_the_agreed_inputs() -> None:
    vectors = json.loads(PY_VECTORS.read_text())
    check_vectors(vectors)
    assert vectors["round_id"] == "7:2"
    assert bytes.fromhex(vectors["prg"]["seed_hex"]) == bytes(range(32)) and len(vectors["prg"]["words"]) == 40
    assert bytes.fromhex(vectors["x25519"]["a_private_hex"]) == bytes(range(1, 33))
    assert bytes.fromhex(vectors["x25519"]["b_private_hex"]) == bytes(range(33, 65))
    assert bytes.fromhex(vectors["shamir"]["secret_hex"]) == bytes(range(100, 132)) and vectors["shamir"]["threshold"] == 3
    assert [share["x"] for share in vectors["shamir"]["shares"]] == [1, 2, 3, 4, 5]
    fixed = vectors["fixed_point"]
    assert (fixed["values"], fixed["clip_range"], fixed["bits"], fixed["weight"]) == ([0.5, -0.25, 2.0, -3.0, 0.1234], 1, 16, 3)
    game = vectors["round"]
    assert [client["index"] for client in game["clients"]] == [1, 2, 3] and (game["clip_range"], game["bits"], game["weight"]) == (1, 16, 1)


def test_the_vectors_file_is_what_its_script_writes() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_vectors", FIXTURES / "make_secure_aggregation_vectors.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.vectors() == json.loads(PY_VECTORS.read_text())


@pytest.mark.skipif(not TS_VECTORS.exists(), reason=f"{TS_VECTORS} (written by the TypeScript SDK's tests) is not in this checkout")
def test_this_package_reproduces_the_typescript_sdks_interoperability_vectors() -> None:
    check_vectors(json.loads(TS_VECTORS.read_text()))


# --- SecureRoundParticipant against an in-memory imitation of the service --------------------


class FakeSecureService(requests.adapters.BaseAdapter):
    """The secure_round routes of one model, in memory, as the protocol doc describes them: stages
    close when every expected client has answered, or when the test calls `close_stage()` (the
    deadline). The unmasking is `reference_unmask`."""

    BASE = "http://fma.test"

    def __init__(self, model: int, clients: Sequence[str], *, threshold: int = 3, length: int = 6, weighted: bool = False, max_weight: int = 1) -> None:
        super().__init__()
        self.model, self.lock = model, threading.RLock()
        # Credentials (CLIENT-UUID) -> public ids: the round names clients by the latter only.
        self.public = {credential: str(uuid.uuid5(uuid.NAMESPACE_URL, credential)) for credential in clients}
        self.clients = list(self.public.values())
        self.round: dict[str, Any] = {
            "round": 1, "id": f"{model}:1", "federated_model": model, "status": "advertising", "stage_deadline": "2099-01-01T00:00:00.000Z",
            "threshold": threshold, "clip_range": 1.0, "bits": 16, "max_weight": max_weight, "weighted": weighted,
            "length": length, "shapes": [[length]], "layout": "vector", "participants": [], "sharers": [], "maskers": [], "revealers": [],
            "aggregate": None, "failure_reason": None,
        }  # fmt: skip
        self.keys: dict[str, dict[str, str]] = {}
        self.shares: dict[str, list[dict[str, str]]] = {}
        self.uploads: dict[str, bytes] = {}
        self.declared: dict[str, str] = {}
        self.masked: dict[str, np.ndarray] = {}
        self.reveals: dict[str, list[dict[str, str]]] = {}
        self.total: np.ndarray | None = None
        self.posts: list[tuple[str, str]] = []

    def session(self) -> requests.Session:
        session = requests.sessions.Session()  # not requests.Session, which a test replaces by this method
        session.mount("http://", self)
        return session

    def close(self) -> None:
        pass

    def answer(self, request: requests.PreparedRequest, status: int, body: Any) -> requests.Response:
        response = requests.Response()
        response.status_code = status
        response._content = b"" if body is None else json.dumps(body).encode()
        response.headers["Content-Type"] = "application/json"
        response.request, response.url = request, str(request.url)
        return response

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        with self.lock:
            url = urlparse(str(request.url))
            if url.netloc == "store.test":
                assert request.method == "PUT"
                data = request.body if isinstance(request.body, bytes) else b"".join(bytes(part) for part in request.body)  # type: ignore[union-attr]
                assert len(data) == int(str(request.headers["Content-Length"]))
                self.uploads[url.path.strip("/")] = data
                return self.answer(request, 200, None)
            prefix = f"/api/v1/models/{self.model}/secure_round/"
            assert url.path.startswith(prefix), url.path
            route, credential = url.path[len(prefix) :], str(request.headers.get("CLIENT-UUID"))
            if credential not in self.public:
                return self.answer(request, 403, {"detail": "not a client of this model"})
            me = self.public[credential]
            query = {key: values[0] for key, values in parse_qs(url.query).items()}
            body = json.loads(request.body) if request.body else None
            if request.method == "GET" and route == "":
                return self.answer(request, 200, {**self.round, "caller": me})
            if request.method == "GET" and route == "shares/":
                assert int(query["round"]) == 1 and self.round["status"] not in ("advertising", "sharing")
                mine = [{"from": item["from"], "ciphertext": item["ciphertext"]} for item in self.shares.get(str(me), [])]
                return self.answer(request, 200, {"round": 1, "shares": mine})
            assert request.method == "POST"
            self.posts.append((str(me), route))
            return self.post(request, route, str(me), body)

    def stage_of(self, route: str) -> str:
        return {"keys/": "advertising", "shares/": "sharing", "masked_input/": "masking", "masked_input/complete/": "masking", "reveal/": "unmasking"}[route]

    def post(self, request: requests.PreparedRequest, route: str, me: str, body: Any) -> requests.Response:
        if self.round["status"] != self.stage_of(route) or (route != "keys/" and body.get("round") != 1):
            return self.answer(request, 409, {"detail": f"round 1 is {self.round['status']}"})
        if route == "keys/":
            if me in self.keys:
                return self.answer(request, 409, {"detail": "keys already advertised"})
            self.keys[me] = body
            if len(self.keys) == len(self.clients):
                self.close_stage()
            return self.answer(request, 201, {**self.round, "caller": me})
        indices = {entry["client"]: entry["index"] for entry in self.round["participants"]}
        if route == "shares/":
            assert me in indices and sorted(item["to"] for item in body["shares"]) == sorted(c for c in indices if c != me)
            for item in body["shares"]:
                self.shares.setdefault(item["to"], []).append({"from": me, "ciphertext": item["ciphertext"]})
            self.round["sharers"].append(me)
            if len(self.round["sharers"]) == len(indices):
                self.close_stage()
            return self.answer(request, 201, {})
        if route == "masked_input/":
            assert me in self.round["sharers"]
            self.declared[f"u-{me}"] = body["sha256"]
            size = 4 * (self.round["length"] + 1)
            descriptor = {"upload": f"u-{me}", "method": "PUT", "url": f"http://store.test/u-{me}", "headers": {"content-type": "application/octet-stream"}, "byte_size": size, "complete": f"/api/v1/models/{self.model}/secure_round/masked_input/complete/"}
            return self.answer(request, 201, descriptor)
        if route == "masked_input/complete/":
            data = self.uploads[body["upload"]]
            assert body["upload"] == f"u-{me}" and hashlib.sha256(data).hexdigest() == self.declared[body["upload"]] and len(data) == 4 * (self.round["length"] + 1)
            self.masked[me] = np.frombuffer(data, dtype="<u4").astype(np.uint32)
            self.round["maskers"].append(me)
            if len(self.round["maskers"]) == len(self.round["sharers"]):
                self.close_stage()
            return self.answer(request, 201, {})
        assert route == "reveal/" and me in self.round["maskers"]
        kinds = {item["of"]: item["kind"] for item in body["shares"]}
        assert len(kinds) == len(body["shares"]), "both kinds revealed for one client"
        self.reveals[me] = body["shares"]
        self.round["revealers"].append(me)
        if len(self.round["revealers"]) == len(self.round["maskers"]):
            self.close_stage()
        return self.answer(request, 201, {})

    def close_stage(self) -> None:
        with self.lock:
            status, t = self.round["status"], self.round["threshold"]
            answered = {"advertising": self.keys, "sharing": self.round["sharers"], "masking": self.round["maskers"], "unmasking": self.round["revealers"]}[status]
            if len(answered) < t:
                self.round.update(status="failed", failure_reason=f"only {len(answered)} clients answered in {status}, fewer than {t}")
                return
            if status == "advertising":
                ordered = sorted(self.keys)
                self.round["participants"] = [
                    {"client": c, "index": i + 1, "c_public_key": self.keys[c]["c_public_key"], "s_public_key": self.keys[c]["s_public_key"]} for i, c in enumerate(ordered)
                ]
                self.round["status"] = "sharing"
            elif status == "sharing":
                self.round["sharers"].sort()
                self.round["status"] = "masking"
            elif status == "masking":
                self.round["maskers"].sort()
                self.round["status"] = "unmasking"
            else:
                participants = {e["client"]: (e["index"], base64.b64decode(e["s_public_key"])) for e in self.round["participants"]}
                self.total = reference_unmask(
                    self.round["id"], self.round["length"] + 1, t, participants, self.round["sharers"], self.round["maskers"], self.masked, self.reveals
                )
                self.round.update(status="complete", aggregate=99)


def fake_clients(count: int = 5, **options: Any) -> tuple[FakeSecureService, list[FmaClient]]:
    ids = [f"00000000-0000-4000-8000-{n:012d}" for n in range(1, count + 1)]
    service = FakeSecureService(12, ids, **options)
    return service, [FmaClient(FakeSecureService.BASE, 12, uuid=client, session=service.session(), max_retries=0) for client in ids]


def participant(client: FmaClient) -> sa.SecureRoundParticipant:
    return sa.SecureRoundParticipant(client, poll_interval=0.0, timeout=5.0, sleep=lambda _: None)


def encoded_sum(values: Sequence[np.ndarray], weights: Sequence[int] | None = None) -> list[int]:
    weights = weights or [1] * len(values)
    return np.sum([sa.encode_fixed_point(v, 1.0, 16, w).view(np.int32).astype(np.int64) for v, w in zip(values, weights)], axis=0).tolist()  # type: ignore[no-any-return]


def test_participants_stage_by_stage_with_a_dropout_after_sharing() -> None:
    service, clients = fake_clients(5)
    people = [participant(client) for client in clients]
    rng = np.random.default_rng(8)
    values = [rng.uniform(-1, 1, 6) for _ in people]
    for person in people:
        person.advertise()
    for person in people:
        person.share()
    assert service.round["status"] == "masking"
    for person, update in zip(people[:4], values[:4]):
        person.masked_input(update)
    service.close_stage()  # the masked input's deadline: the fifth never uploads
    assert service.round["maskers"] == sorted(service.public[str(client.uuid)] for client in clients[:4])
    assert [person.me for person in people] == [service.public[str(client.uuid)] for client in clients]  # never the credential
    for person in people[:4]:
        person.reveal()
    finals = [person.wait_for_result() for person in people]
    assert all(final["status"] == "complete" and final["aggregate"] == 99 for final in finals)
    assert service.total is not None and service.total.view(np.int32).tolist() == encoded_sum(values[:4])
    # the dropout's s_sk was revealed (it shared but never masked), nobody revealed its b
    dropout = service.public[str(clients[4].uuid)]
    kinds = {item["kind"] for items in service.reveals.values() for item in items if item["of"] == dropout}
    assert kinds == {"sk"}
    with pytest.raises(SecureRoundError, match="maskers"):
        people[4].reveal()


def test_a_client_left_out_of_the_sharers_is_told_so_and_a_failed_round_raises_its_reason() -> None:
    service, clients = fake_clients(4)
    people = [participant(client) for client in clients]
    for person in people:
        person.advertise()
    for person in people[:3]:
        person.share()
    service.close_stage()
    with pytest.raises(SecureRoundError, match="not among this round's sharers") as caught:
        people[3].masked_input(np.zeros(6))
    assert caught.value.round["status"] == "masking"
    for person in people[:2]:
        person.masked_input(np.zeros(6))
    service.close_stage()  # 2 maskers < t = 3: the round fails
    with pytest.raises(SecureRoundError, match="fewer than 3") as failed:
        people[0].reveal()
    assert failed.value.failure_reason is not None and "fewer than 3" in failed.value.failure_reason


def test_a_weighted_round_encodes_num_examples_as_the_weight() -> None:
    service, clients = fake_clients(3, weighted=True, max_weight=100)
    people = [participant(client) for client in clients]
    values = [np.full(6, 0.5), np.full(6, -0.25), np.linspace(-1, 1, 6)]
    for person in people:
        person.advertise()
    for person in people:
        person.share()
    with pytest.raises(ValueError, match="num_examples"):
        people[0].masked_input(values[0])
    with pytest.raises(ValueError, match="max_weight"):
        people[0].masked_input(values[0], num_examples=101)
    with pytest.raises(ValueError, match="6 values"):
        people[0].masked_input(np.zeros(7), num_examples=1)
    for person, update, weight in zip(people, values, [10, 20, 30]):
        person.masked_input(update, num_examples=weight)
    for person in people:
        person.reveal()
    assert people[0].wait_for_result()["status"] == "complete"
    assert service.total is not None and service.total.view(np.int32).tolist() == encoded_sum(values, [10, 20, 30])
    assert service.total[-1] == 60


def test_secure_round_and_the_command_line_run_every_stage_concurrently(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    service, clients = fake_clients(4)
    rng = np.random.default_rng(21)
    values = [[rng.uniform(-1, 1, (2, 2)).astype(np.float32), rng.uniform(-1, 1, 2)] for _ in clients]
    results: dict[int, Any] = {}

    def run(number: int) -> None:
        try:
            results[number] = clients[number].secure_round(values[number], poll_interval=0.01, timeout=20)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            results[number] = error

    # The last client runs through the command line (its FmaClient's session is the fake's).
    np.save(tmp_path / "values.npy", np.concatenate([layer.reshape(-1).astype(np.float64) for layer in values[3]]))
    monkeypatch.setattr(requests, "Session", service.session)
    out, err = io.StringIO(), io.StringIO()

    def run_cli() -> None:
        argv = ["--base-url", FakeSecureService.BASE, "--model", "12", "--client-uuid", str(clients[3].uuid), "--values-file", str(tmp_path / "values.npy"), "--poll-interval", "0.01", "--timeout", "20"]
        with redirect_stdout(out), redirect_stderr(err):
            results[3] = sa.main(argv)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(3)] + [threading.Thread(target=run_cli)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results[3] == 0, err.getvalue()
    for number in range(3):
        assert isinstance(results[number], dict) and results[number]["status"] == "complete", results[number]
    assert json.loads(out.getvalue())["status"] == "complete"
    flat = [np.concatenate([layer.reshape(-1).astype(np.float64) for layer in update]) for update in values]
    assert service.total is not None and service.total.view(np.int32).tolist() == encoded_sum(flat)
    # one POST per client and stage (plus the upload's completion)
    routes = sorted(route for _, route in service.posts)
    assert routes == sorted(["keys/", "shares/", "masked_input/", "masked_input/complete/", "reveal/"] * 4)
    assert all(keys["shapes"] == [[6]] for keys in service.keys.values())  # the value count, with the keys


def test_the_command_line_reports_errors_on_stderr_with_exit_1(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = sa.main(["--base-url", "http://127.0.0.1:9", "--model", "1", "--client-uuid", "u", "--values-file", str(tmp_path / "missing.npy")])
    assert code == 1 and out.getvalue() == "" and "missing.npy" in err.getvalue()


def test_run_with_drop_after_stops_taking_part_and_waits_for_the_rounds_end() -> None:
    service, clients = fake_clients(4)
    values = [np.full(6, 0.1 * (n + 1)) for n in range(4)]
    results: dict[int, Any] = {}

    def run(number: int) -> None:
        person = sa.SecureRoundParticipant(clients[number], poll_interval=0.005, timeout=20)
        try:
            results[number] = person.run(values[number], drop_after="share" if number == 3 else None)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            results[number] = error

    def deadline() -> None:  # the masked input stage's deadline: once the three others are in
        while not (service.round["status"] == "masking" and len(service.round["maskers"]) == 3):
            threading.Event().wait(0.005)
        service.close_stage()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(4)] + [threading.Thread(target=deadline, daemon=True)]
    for thread in threads:
        thread.start()
    for thread in threads[:4]:
        thread.join(30)
    assert all(isinstance(results[n], dict) and results[n]["status"] == "complete" for n in range(4)), results
    dropout = service.public[str(clients[3].uuid)]
    assert dropout in service.round["sharers"] and dropout not in service.round["maskers"]
    assert [route for me, route in service.posts if me == dropout] == ["keys/", "shares/"]
    assert service.total is not None and service.total.view(np.int32).tolist() == encoded_sum(values[:3])
    with pytest.raises(ValueError, match="drop_after"):
        sa.SecureRoundParticipant(clients[0]).run(values[0], drop_after="unmasking")
