"""Parking charges: a free period, an hourly rate for started hours, a daily cap, permits."""

FREE_MINUTES = 15
HOURLY_RATE = 2.5
DAILY_CAP = 18.0


def billable_hours(minutes):
    """Started hours after the free period: 16 to 75 minutes bill as one hour."""
    if minutes <= FREE_MINUTES:
        return 0
    paid = minutes - FREE_MINUTES
    return (paid + 59) // 60


def charge(minutes, has_permit=False):
    """Fee for one stay. Permit holders park free; no stay costs more than the daily cap."""
    if has_permit:
        return 0.0
    return min(billable_hours(minutes) * HOURLY_RATE, DAILY_CAP)


def total_charges(stays):
    """Sum of the fees of ``(minutes, has_permit)`` stays."""
    return sum(charge(minutes, permit) for minutes, permit in stays)
