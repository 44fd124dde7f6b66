"""A music playlist: track lengths, the total running time and what fits in a time slot."""


def parse_duration(text):
    """'3:07' -> 187 seconds."""
    minutes, seconds = text.split(":")
    return int(minutes) * 60 + int(seconds)


def format_duration(seconds):
    """187 -> '3:07'; long playlists show minutes only ('75:00')."""
    return f"{seconds // 60}:{seconds % 60:02d}"


def total_length(durations):
    """Total running time of a list of 'm:ss' strings, formatted the same way."""
    return format_duration(sum(parse_duration(d) for d in durations))


def tracks_that_fit(durations, limit_seconds):
    """How many tracks, from the first one on, play completely within ``limit_seconds``."""
    elapsed = 0
    for count in range(len(durations)):
        elapsed += parse_duration(durations[count])
        if elapsed > limit_seconds:
            return count
    return len(durations)
