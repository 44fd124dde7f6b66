import unittest

from calendar_math import day_of_year, days_in_month, is_leap_year, nights_between


class LeapYearTest(unittest.TestCase):
    def test_ordinary_leap_year(self):
        self.assertTrue(is_leap_year(2024))

    def test_common_year(self):
        self.assertFalse(is_leap_year(2023))

    def test_century_is_not_leap(self):
        self.assertFalse(is_leap_year(1900))

    def test_fourth_century_is_leap(self):
        self.assertTrue(is_leap_year(2000))


class DaysInMonthTest(unittest.TestCase):
    def test_february_leap(self):
        self.assertEqual(days_in_month(2024, 2), 29)

    def test_february_common(self):
        self.assertEqual(days_in_month(2100, 2), 28)

    def test_december(self):
        self.assertEqual(days_in_month(2023, 12), 31)

    def test_april(self):
        self.assertEqual(days_in_month(2024, 4), 30)


class DayOfYearTest(unittest.TestCase):
    def test_first_day(self):
        self.assertEqual(day_of_year(2023, 1, 1), 1)

    def test_last_day_leap(self):
        self.assertEqual(day_of_year(2000, 12, 31), 366)

    def test_march_first_common(self):
        self.assertEqual(day_of_year(2023, 3, 1), 60)

    def test_nights_across_february(self):
        self.assertEqual(nights_between((2024, 2, 27), (2024, 3, 2)), 4)


if __name__ == "__main__":
    unittest.main()
