"""Calendar arithmetic for a room-booking system (Gregorian calendar)."""

MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def is_leap_year(year):
    """Every 4th year is a leap year, except centuries, except every 4th century."""
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def days_in_month(year, month):
    """Days in ``month`` (1 to 12) of ``year``."""
    if month == 2 and is_leap_year(year):
        return 29
    return MONTH_DAYS[month - 1]


def day_of_year(year, month, day):
    """1 for January 1st; 365, or 366 in a leap year, for December 31st."""
    return sum(days_in_month(year, m) for m in range(1, month)) + day


def nights_between(arrival, departure):
    """Nights from ``arrival`` to ``departure``, ``(year, month, day)`` tuples in one year."""
    return day_of_year(*departure) - day_of_year(*arrival)
