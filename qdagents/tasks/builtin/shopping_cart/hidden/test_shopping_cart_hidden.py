import unittest

from shopping_cart import discount, subtotal, total


class SubtotalTest(unittest.TestCase):
    def test_empty(self):
        self.assertEqual(subtotal([]), 0)

    def test_lines(self):
        self.assertEqual(subtotal([("tea", 3.0, 2), ("jam", 4.5, 1)]), 10.5)


class DiscountTest(unittest.TestCase):
    def test_percent(self):
        self.assertEqual(discount(80.0, 25), 20.0)

    def test_rounds_to_cents(self):
        self.assertEqual(discount(9.99, 15), 1.5)


class TotalTest(unittest.TestCase):
    def test_small_order_pays_delivery(self):
        self.assertEqual(total([("tea", 10.0, 2)]), 24.5)

    def test_coupon_on_small_order(self):
        self.assertEqual(total([("tea", 10.0, 2)], coupon_percent=10), 22.5)

    def test_large_order_delivers_free(self):
        self.assertEqual(total([("kettle", 60.0, 1)]), 60.0)

    def test_coupon_can_bring_order_under_free_delivery(self):
        self.assertEqual(total([("kettle", 60.0, 1)], coupon_percent=20), 52.5)

    def test_exactly_at_threshold_is_free(self):
        self.assertEqual(total([("pan", 25.0, 2)]), 50.0)

    def test_empty_cart(self):
        self.assertEqual(total([]), 4.5)


if __name__ == "__main__":
    unittest.main()
