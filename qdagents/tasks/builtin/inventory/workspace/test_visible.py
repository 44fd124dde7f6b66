import unittest

from inventory import reorder_quantity


class ReorderTest(unittest.TestCase):
    def test_stock_exactly_at_reorder_level_is_reordered(self):
        self.assertEqual(reorder_quantity(5, 5, 20), 15)


if __name__ == "__main__":
    unittest.main()
