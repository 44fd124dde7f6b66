import unittest

from calendar_math import days_in_month


class DaysInMonthTest(unittest.TestCase):
    def test_february_in_a_leap_year(self):
        self.assertEqual(days_in_month(2024, 2), 29)


if __name__ == "__main__":
    unittest.main()
