"""Checks passwords against a simple policy and says what is wrong with them."""

SYMBOLS = set("!@#$%^&*()-_=+[]{};:,.?/")


def problems(password, min_length=10):
    """Human-readable problems with ``password``; empty when it is acceptable."""
    found = []
    if len(password) < min_length:
        found.append(f"shorter than {min_length} characters")
    if not any(c.isdigit() for c in password):
        found.append("no digit")
    if not any(c.isupper() for c in password):
        found.append("no upper-case letter")
    if not any(c in SYMBOLS for c in password):
        found.append("no symbol")
    if has_repeats(password):
        found.append("a character repeated 3 times in a row")
    return found


def is_strong(password, min_length=10):
    return not problems(password, min_length)


def has_repeats(password, run=3):
    """True if some character appears ``run`` times in a row."""
    streak = 1
    for previous, current in zip(password, password[1:]):
        streak = streak + 1 if current == previous else 1
        if streak >= run:
            return False
    return False
