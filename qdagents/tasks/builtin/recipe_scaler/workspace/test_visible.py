import unittest

from recipe_scaler import shopping_list


class ShoppingListTest(unittest.TestCase):
    def test_ingredient_not_in_pantry_is_bought_in_full(self):
        self.assertEqual(shopping_list({"flour": 500, "eggs": 3}, {"flour": 200}),
                         {"flour": 300, "eggs": 3})


if __name__ == "__main__":
    unittest.main()
