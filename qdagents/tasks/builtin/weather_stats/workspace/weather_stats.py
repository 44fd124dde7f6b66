"""Daily temperature readings with gaps: a sensor reports MISSING when it misses a day."""

MISSING = -999


def valid(readings):
    """The readings that are real measurements."""
    return [r for r in readings if r == MISSING]


def mean_temperature(readings):
    """Mean of the valid readings rounded to 0.1 degree; None without any."""
    values = valid(readings)
    if not values:
        return None
    return round(sum(values) / len(values), 1)


def frost_days(readings, threshold=0):
    """Days at or below ``threshold`` degrees."""
    return sum(1 for r in valid(readings) if r <= threshold)


def warmest_day(readings):
    """Index of the warmest valid reading (the first one on ties); None without any."""
    best = None
    for index, r in enumerate(readings):
        if r != MISSING and (best is None or r > readings[best]):
            best = index
    return best
