import unittest

from seat_booking import is_window


class WindowTest(unittest.TestCase):
    def test_seat_a_is_by_the_window(self):
        self.assertTrue(is_window("7A"))


if __name__ == "__main__":
    unittest.main()
