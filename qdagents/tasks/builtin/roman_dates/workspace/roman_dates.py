"""Roman numerals for the years carved on a museum's foundation stones."""


def to_roman(number):
    """Writes ``number`` (1 to 3999) in Roman numerals: 1994 -> 'MCMXCIV'.

    Uses the subtractive forms IV, IX, XL, XC, CD and CM. Raises ValueError outside 1..3999.
    """
    raise NotImplementedError


def from_roman(numeral):
    """Reads a Roman numeral written as :func:`to_roman` writes them: 'MCMXCIV' -> 1994."""
    raise NotImplementedError
