"""Run-length compression for strings of letters and spaces used by a sign-board controller."""


def encode_runs(text):
    """Replaces each run of a repeated character with its length and the character."""
    pieces = []
    index = 0
    while index < len(text):
        end = index
        while end < len(text) and text[end] == text[index]:
            end += 1
        length = end - index
        pieces.append((str(length) if length > 1 else "") + text[index])
        index = end
    return "".join(pieces)


def decode_runs(encoded):
    """Reverses :func:`encode_runs`."""
    pieces = []
    digits = ""
    for char in encoded:
        if char.isdigit():
            digits += char
        else:
            pieces.append(char * int(digits or "1"))
            digits = ""
    return "".join(pieces)
