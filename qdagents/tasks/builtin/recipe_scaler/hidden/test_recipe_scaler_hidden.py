import unittest

from recipe_scaler import count_to_buy, scale, shopping_list


class ScaleTest(unittest.TestCase):
    def test_double(self):
        self.assertEqual(scale({"flour": 250, "eggs": 2}, 4, 8), {"flour": 500, "eggs": 4})

    def test_third(self):
        self.assertEqual(scale({"sugar": 100}, 3, 1), {"sugar": 33.33})


class ShoppingListTest(unittest.TestCase):
    def test_partly_in_pantry(self):
        self.assertEqual(shopping_list({"flour": 500}, {"flour": 200}), {"flour": 300})

    def test_not_in_pantry(self):
        self.assertEqual(shopping_list({"eggs": 3}, {}), {"eggs": 3})

    def test_single_missing_unit(self):
        self.assertEqual(shopping_list({"lemon": 1}, {"flour": 1}), {"lemon": 1})

    def test_enough_in_pantry(self):
        self.assertEqual(shopping_list({"salt": 5}, {"salt": 40}), {})

    def test_fractional_amounts(self):
        self.assertEqual(shopping_list({"milk": 0.75}, {"milk": 0.5}), {"milk": 0.25})

    def test_count(self):
        self.assertEqual(count_to_buy({"a": 1, "b": 2, "c": 3}, {"b": 5}), 2)


if __name__ == "__main__":
    unittest.main()
