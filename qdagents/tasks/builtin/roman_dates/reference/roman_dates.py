"""Roman numerals for the years carved on a museum's foundation stones."""

VALUES = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
          (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]


def to_roman(number):
    """Writes ``number`` (1 to 3999) in Roman numerals."""
    if not 1 <= number <= 3999:
        raise ValueError(f"{number} cannot be written in Roman numerals")
    parts = []
    for value, symbol in VALUES:
        count, number = divmod(number, value)
        parts.append(symbol * count)
    return "".join(parts)


def from_roman(numeral):
    """Reads a Roman numeral."""
    single = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
    total = 0
    for index, char in enumerate(numeral):
        value = single[char]
        following = single[numeral[index + 1]] if index + 1 < len(numeral) else 0
        total += -value if value < following else value
    return total
