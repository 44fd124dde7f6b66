import unittest

from thermostat import Thermostat


class AdjustTest(unittest.TestCase):
    def test_turning_the_dial_up(self):
        self.assertEqual(Thermostat(20.0).adjust(2.0), 22.0)


if __name__ == "__main__":
    unittest.main()
