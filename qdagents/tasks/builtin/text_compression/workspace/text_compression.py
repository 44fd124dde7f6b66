"""Run-length compression for strings of letters and spaces used by a sign-board controller."""


def encode_runs(text):
    """Replaces each run of a repeated character with its length and the character.

    A run of length 1 is written as the bare character, so ``"WWWBWW"`` becomes ``"3WB2W"``
    and ``"abc"`` stays ``"abc"``. Runs can be longer than 9 (``"x" * 12`` becomes ``"12x"``).
    Spaces are characters like any other. The empty string encodes to the empty string.
    """
    raise NotImplementedError


def decode_runs(encoded):
    """Reverses :func:`encode_runs`: ``"3WB2W"`` becomes ``"WWWBWW"``."""
    raise NotImplementedError
