import unittest

from grade_book import average, letter, report, weighted_average


class AverageTest(unittest.TestCase):
    def test_mean(self):
        self.assertEqual(average([90, 80]), 85)

    def test_single(self):
        self.assertEqual(average([72]), 72)

    def test_three(self):
        self.assertAlmostEqual(average([50, 60, 100]), 70)

    def test_empty(self):
        self.assertEqual(average([]), 0.0)


class WeightedAverageTest(unittest.TestCase):
    def test_weights(self):
        self.assertAlmostEqual(weighted_average([(80, 1), (100, 3)]), 95)

    def test_no_weight(self):
        self.assertEqual(weighted_average([]), 0.0)


class LetterTest(unittest.TestCase):
    def test_boundaries(self):
        self.assertEqual(letter(90), "A")
        self.assertEqual(letter(89.9), "B")
        self.assertEqual(letter(60), "D")
        self.assertEqual(letter(59), "F")


class ReportTest(unittest.TestCase):
    def test_report(self):
        students = {"ana": [90, 80], "ben": [100, 95], "cy": [40, 70], "dee": []}
        self.assertEqual(report(students), {"ana": "B", "ben": "A", "cy": "F", "dee": "F"})


if __name__ == "__main__":
    unittest.main()
