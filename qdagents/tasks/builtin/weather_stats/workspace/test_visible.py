import unittest

from weather_stats import MISSING, mean_temperature


class MeanTemperatureTest(unittest.TestCase):
    def test_missing_days_are_ignored(self):
        self.assertEqual(mean_temperature([3, MISSING, 5]), 4.0)


if __name__ == "__main__":
    unittest.main()
