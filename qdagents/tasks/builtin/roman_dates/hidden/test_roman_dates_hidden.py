import unittest

from roman_dates import from_roman, to_roman

CASES = {1: "I", 3: "III", 4: "IV", 9: "IX", 14: "XIV", 40: "XL", 49: "XLIX", 90: "XC",
         400: "CD", 444: "CDXLIV", 900: "CM", 1666: "MDCLXVI", 1994: "MCMXCIV",
         2024: "MMXXIV", 3999: "MMMCMXCIX"}


class ToRomanTest(unittest.TestCase):
    def test_cases(self):
        for number, numeral in CASES.items():
            self.assertEqual(to_roman(number), numeral, number)

    def test_out_of_range(self):
        for number in (0, -1, 4000):
            with self.assertRaises(ValueError):
                to_roman(number)


class FromRomanTest(unittest.TestCase):
    def test_cases(self):
        for number, numeral in CASES.items():
            self.assertEqual(from_roman(numeral), number, numeral)

    def test_round_trip(self):
        for number in range(1, 4000, 7):
            self.assertEqual(from_roman(to_roman(number)), number)


if __name__ == "__main__":
    unittest.main()
