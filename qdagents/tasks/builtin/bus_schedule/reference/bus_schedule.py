"""Next departures from a bus stop; times are 'HH:MM' strings on a 24-hour clock."""


def to_minutes(clock):
    """'07:45' -> 465 minutes after midnight."""
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def upcoming(timetable, now):
    """Departures at or after ``now``, earliest first."""
    current = to_minutes(now)
    return sorted((t for t in timetable if to_minutes(t) >= current), key=to_minutes)


def next_departure(timetable, now):
    """The first departure at or after ``now``; None once the last bus has left."""
    later = upcoming(timetable, now)
    if not later:
        return None
    return later[0]


def wait_minutes(timetable, now):
    """Minutes until the next bus, or None once the last bus has left."""
    departure = next_departure(timetable, now)
    if departure is None:
        return None
    return to_minutes(departure) - to_minutes(now)
