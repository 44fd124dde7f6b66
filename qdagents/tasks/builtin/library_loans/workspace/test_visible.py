import unittest

from library_loans import loan_days


class LoanDaysTest(unittest.TestCase):
    def test_both_ends_count(self):
        self.assertEqual(loan_days(10, 12), 3)


if __name__ == "__main__":
    unittest.main()
