import unittest

from password_policy import is_strong


class StrongTest(unittest.TestCase):
    def test_three_repeated_characters_are_refused(self):
        self.assertFalse(is_strong("Passs!word42"))


if __name__ == "__main__":
    unittest.main()
