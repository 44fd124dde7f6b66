"""Room bookings as (start, end) minute pairs within one day, e.g. (540, 600) is 9:00-10:00."""


def merge_bookings(bookings):
    """Merges overlapping or touching bookings and returns them sorted by start.

    ``[(600, 660), (540, 610), (700, 720), (720, 730)]`` -> ``[(540, 660), (700, 730)]``.
    The input may be in any order and is not modified.
    """
    raise NotImplementedError


def free_slots(bookings, day_start, day_end, min_length=1):
    """The free gaps between ``day_start`` and ``day_end``, as sorted (start, end) pairs.

    Bookings may overlap each other and may extend past the day's bounds. Only gaps of at
    least ``min_length`` minutes are returned.
    """
    raise NotImplementedError
