import unittest

from shopping_cart import total


class TotalTest(unittest.TestCase):
    def test_coupon_is_taken_off(self):
        lines = [("tea", 10.0, 2)]
        self.assertEqual(total(lines, coupon_percent=10), 22.5)


if __name__ == "__main__":
    unittest.main()
