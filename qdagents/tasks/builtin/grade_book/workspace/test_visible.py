import unittest

from grade_book import report


class ReportTest(unittest.TestCase):
    def test_letter_of_the_average(self):
        self.assertEqual(report({"ana": [90, 80]}), {"ana": "B"})


if __name__ == "__main__":
    unittest.main()
