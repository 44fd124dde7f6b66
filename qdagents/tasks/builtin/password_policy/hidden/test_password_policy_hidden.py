import unittest

from password_policy import has_repeats, is_strong, problems


class RepeatsTest(unittest.TestCase):
    def test_three_in_a_row(self):
        self.assertTrue(has_repeats("baaab"))

    def test_at_the_end(self):
        self.assertTrue(has_repeats("xyz111"))

    def test_two_in_a_row_is_fine(self):
        self.assertFalse(has_repeats("aabbaa"))

    def test_short(self):
        self.assertFalse(has_repeats(""))
        self.assertFalse(has_repeats("a"))

    def test_longer_run(self):
        self.assertFalse(has_repeats("aaab", run=4))
        self.assertTrue(has_repeats("aaaab", run=4))


class PolicyTest(unittest.TestCase):
    def test_strong(self):
        self.assertTrue(is_strong("Tr0ub4dor&3x"))

    def test_repeats_are_refused(self):
        self.assertFalse(is_strong("Passs!word42"))

    def test_problems_are_listed(self):
        self.assertEqual(problems("abc"), ["shorter than 10 characters", "no digit",
                                           "no upper-case letter", "no symbol"])

    def test_repeat_problem(self):
        self.assertEqual(problems("Zzzz!word42"), ["a character repeated 3 times in a row"])


if __name__ == "__main__":
    unittest.main()
