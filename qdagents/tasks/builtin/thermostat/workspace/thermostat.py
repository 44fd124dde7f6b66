"""A thermostat that keeps its set point within the range the boiler supports."""

MIN_SETPOINT = 5.0
MAX_SETPOINT = 30.0


def clamp(value, low, high):
    """``value`` limited to the interval [low, high]."""
    return min(low, min(value, high))


class Thermostat:
    """Holds a set point and decides whether the heating should run."""

    def __init__(self, setpoint=20.0):
        self.setpoint = clamp(setpoint, MIN_SETPOINT, MAX_SETPOINT)

    def adjust(self, delta):
        """Turns the dial by ``delta`` degrees; the set point never leaves the supported range."""
        self.setpoint = clamp(self.setpoint + delta, MIN_SETPOINT, MAX_SETPOINT)
        return self.setpoint

    def heating_on(self, room_temperature, hysteresis=0.5):
        """Heat while the room is more than ``hysteresis`` degrees below the set point."""
        return room_temperature < self.setpoint - hysteresis
