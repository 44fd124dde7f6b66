import unittest

from library_loans import days_late, due_day, fine, loan_days


class LoanDaysTest(unittest.TestCase):
    def test_both_ends_count(self):
        self.assertEqual(loan_days(10, 12), 3)

    def test_same_day(self):
        self.assertEqual(loan_days(5, 5), 1)

    def test_long_loan(self):
        self.assertEqual(loan_days(1, 30), 30)


class FineTest(unittest.TestCase):
    def test_due_day(self):
        self.assertEqual(due_day(10), 31)

    def test_on_time(self):
        self.assertEqual(days_late(10, 31), 0)
        self.assertEqual(fine(10, 31), 0.0)

    def test_within_grace(self):
        self.assertEqual(fine(10, 33), 0.0)

    def test_after_grace_every_late_day_counts(self):
        self.assertEqual(fine(10, 34), 0.75)

    def test_cap(self):
        self.assertEqual(fine(0, 200), 10.0)


if __name__ == "__main__":
    unittest.main()
