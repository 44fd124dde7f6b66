import unittest

from parking_meter import charge


class ChargeTest(unittest.TestCase):
    def test_visitor_pays_for_started_hours(self):
        self.assertEqual(charge(90), 5.0)


if __name__ == "__main__":
    unittest.main()
