"""Room bookings as (start, end) minute pairs within one day, e.g. (540, 600) is 9:00-10:00."""


def merge_bookings(bookings):
    """Merges overlapping or touching bookings and returns them sorted by start."""
    merged = []
    for start, end in sorted(bookings):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def free_slots(bookings, day_start, day_end, min_length=1):
    """The free gaps between ``day_start`` and ``day_end``."""
    slots = []
    cursor = day_start
    for start, end in merge_bookings(bookings):
        if start > cursor:
            slots.append((cursor, min(start, day_end)))
        cursor = max(cursor, end)
    if cursor < day_end:
        slots.append((cursor, day_end))
    return [(s, e) for s, e in slots if e - s >= min_length]
