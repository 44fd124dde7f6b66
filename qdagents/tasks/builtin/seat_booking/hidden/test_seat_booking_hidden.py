import unittest

from seat_booking import free_window_seats, is_aisle, is_window, parse_seat


class ParseTest(unittest.TestCase):
    def test_two_digit_row(self):
        self.assertEqual(parse_seat("12C"), (12, "C"))


class WindowTest(unittest.TestCase):
    def test_a_is_window(self):
        self.assertTrue(is_window("7A"))

    def test_f_is_window(self):
        self.assertTrue(is_window("23F"))

    def test_middle_and_aisle_are_not(self):
        for code in ("7B", "7C", "7D", "7E"):
            self.assertFalse(is_window(code), code)


class AisleTest(unittest.TestCase):
    def test_aisle(self):
        self.assertTrue(is_aisle("3C"))
        self.assertTrue(is_aisle("3D"))
        self.assertFalse(is_aisle("3A"))


class FreeWindowSeatsTest(unittest.TestCase):
    def test_front_to_back(self):
        self.assertEqual(free_window_seats({"1A"}, 2), ["1F", "2A", "2F"])

    def test_all_taken(self):
        self.assertEqual(free_window_seats({"1A", "1F"}, 1), [])


if __name__ == "__main__":
    unittest.main()
