import unittest

from inventory import needs_reorder, reorder_list, reorder_quantity, stock_value


class NeedsReorderTest(unittest.TestCase):
    def test_below_level(self):
        self.assertTrue(needs_reorder(3, 5))

    def test_at_level(self):
        self.assertTrue(needs_reorder(5, 5))

    def test_above_level(self):
        self.assertFalse(needs_reorder(6, 5))

    def test_out_of_stock(self):
        self.assertTrue(needs_reorder(0, 0))


class ReorderQuantityTest(unittest.TestCase):
    def test_at_level(self):
        self.assertEqual(reorder_quantity(5, 5, 20), 15)

    def test_below_level(self):
        self.assertEqual(reorder_quantity(2, 5, 20), 18)

    def test_well_stocked_orders_nothing(self):
        self.assertEqual(reorder_quantity(30, 5, 20), 0)

    def test_just_above_level_orders_nothing(self):
        self.assertEqual(reorder_quantity(6, 5, 20), 0)


class ReorderListTest(unittest.TestCase):
    def test_sorted_names_of_due_items(self):
        items = {"tea": (4, 4), "coffee": (10, 3), "biscuits": (0, 2), "sugar": (7, 8)}
        self.assertEqual(reorder_list(items), ["biscuits", "sugar", "tea"])

    def test_nothing_due(self):
        self.assertEqual(reorder_list({"tea": (9, 4)}), [])

    def test_stock_value(self):
        items = {"tea": (4, 4), "coffee": (10, 3)}
        self.assertEqual(stock_value(items, {"tea": 2.5, "coffee": 4}), 50)


if __name__ == "__main__":
    unittest.main()
