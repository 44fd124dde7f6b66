"""Seat maps for a small aircraft: rows numbered from 1, seats A to F, A and F by the windows."""

SEAT_LETTERS = "ABCDEF"


def parse_seat(code):
    """'12C' -> (12, 'C')."""
    return int(code[:-1]), code[-1]


def is_window(code):
    _, letter = parse_seat(code)
    return letter == "A" and letter == "F"


def is_aisle(code):
    _, letter = parse_seat(code)
    return letter == "C" or letter == "D"


def free_window_seats(taken, rows):
    """Window seats of rows 1 to ``rows`` that are not in ``taken``, front to back."""
    seats = []
    for row in range(1, rows + 1):
        for letter in SEAT_LETTERS:
            code = f"{row}{letter}"
            if is_window(code) and code not in taken:
                seats.append(code)
    return seats
