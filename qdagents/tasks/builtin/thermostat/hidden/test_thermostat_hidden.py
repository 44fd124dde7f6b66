import unittest

from thermostat import Thermostat, clamp


class ClampTest(unittest.TestCase):
    def test_inside(self):
        self.assertEqual(clamp(7, 0, 10), 7)

    def test_below(self):
        self.assertEqual(clamp(-3, 0, 10), 0)

    def test_above(self):
        self.assertEqual(clamp(12, 0, 10), 10)


class ThermostatTest(unittest.TestCase):
    def test_initial_setpoint(self):
        self.assertEqual(Thermostat(21.5).setpoint, 21.5)

    def test_initial_setpoint_is_clamped(self):
        self.assertEqual(Thermostat(40.0).setpoint, 30.0)
        self.assertEqual(Thermostat(0.0).setpoint, 5.0)

    def test_adjust_up_and_down(self):
        thermostat = Thermostat(20.0)
        self.assertEqual(thermostat.adjust(2.0), 22.0)
        self.assertEqual(thermostat.adjust(-4.5), 17.5)

    def test_adjust_stops_at_the_limits(self):
        thermostat = Thermostat(28.0)
        self.assertEqual(thermostat.adjust(5.0), 30.0)
        self.assertEqual(thermostat.adjust(-100.0), 5.0)

    def test_heating(self):
        thermostat = Thermostat(20.0)
        self.assertTrue(thermostat.heating_on(19.0))
        self.assertFalse(thermostat.heating_on(19.5))
        self.assertFalse(thermostat.heating_on(22.0))


if __name__ == "__main__":
    unittest.main()
