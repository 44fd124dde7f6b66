import unittest

from weather_stats import MISSING, frost_days, mean_temperature, valid, warmest_day


class ValidTest(unittest.TestCase):
    def test_drops_missing(self):
        self.assertEqual(valid([1, MISSING, -2, MISSING]), [1, -2])

    def test_all_missing(self):
        self.assertEqual(valid([MISSING, MISSING]), [])


class MeanTemperatureTest(unittest.TestCase):
    def test_missing_ignored(self):
        self.assertEqual(mean_temperature([3, MISSING, 5]), 4.0)

    def test_rounding(self):
        self.assertEqual(mean_temperature([1, 2, 2]), 1.7)

    def test_only_missing(self):
        self.assertIsNone(mean_temperature([MISSING]))


class FrostDaysTest(unittest.TestCase):
    def test_counts_at_or_below_zero(self):
        self.assertEqual(frost_days([-3, 0, 4, MISSING, -1]), 3)

    def test_threshold(self):
        self.assertEqual(frost_days([2, 3, 4], threshold=3), 2)


class WarmestDayTest(unittest.TestCase):
    def test_warmest(self):
        self.assertEqual(warmest_day([3, MISSING, 9, 9, 4]), 2)

    def test_missing_first(self):
        self.assertEqual(warmest_day([MISSING, -5]), 1)

    def test_none(self):
        self.assertIsNone(warmest_day([MISSING]))


if __name__ == "__main__":
    unittest.main()
