"""Library loans with day numbers: due days, fines after a grace period, loan lengths."""

LOAN_DAYS = 21
GRACE_DAYS = 2
FINE_PER_DAY = 0.25
MAX_FINE = 10.0


def due_day(borrowed_day):
    return borrowed_day + LOAN_DAYS


def days_late(borrowed_day, returned_day):
    """Days after the due day; returning on the due day is not late."""
    return max(0, returned_day - due_day(borrowed_day))


def fine(borrowed_day, returned_day):
    """Nothing within the grace period; after it, every late day counts, up to the cap."""
    late = days_late(borrowed_day, returned_day)
    if late <= GRACE_DAYS:
        return 0.0
    return min(late * FINE_PER_DAY, MAX_FINE)


def loan_days(borrowed_day, returned_day):
    """Days the book was out, counting both the day it was borrowed and the day it came back."""
    return returned_day - borrowed_day + 1
