"""The offline embedding model ``qdagents/embed``: hashed bag of code tokens, L2-normalised.

Deterministic, no download, no network: each identifier, number or punctuation token (and each
pair of neighbouring tokens) adds 1 to one of ``DIM`` signed buckets chosen by a hash. Code that
shares many tokens and token pairs gets a high cosine similarity. A stand-in for a real embedding
model (e.g. ``openai/text-embedding-3-small``), reached through the same litellm call.
"""

from __future__ import annotations

import hashlib
import math
import re

DIM = 256
_TOKEN = re.compile(r"[A-Za-z_]\w*|\d+|[^\w\s]")


def _bucket(feature: str) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % DIM, 1.0 if (value >> 63) & 1 else -1.0


def embed_text(text: str) -> list[float]:
    """The embedding of one text (a list of ``DIM`` floats, unit length unless empty)."""
    vector = [0.0] * DIM
    tokens = _TOKEN.findall(text)
    for feature in tokens + [a + " " + b for a, b in zip(tokens, tokens[1:])]:
        index, sign = _bucket(feature)
        vector[index] += sign
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector] if norm else vector


def token_count(text: str) -> int:
    """Tokens billed for an input, by the offline model's rule (4 characters a token)."""
    return max(1, math.ceil(len(text) / 4))
