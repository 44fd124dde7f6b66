import unittest

from parking_meter import billable_hours, charge, total_charges


class BillableHoursTest(unittest.TestCase):
    def test_free_period(self):
        self.assertEqual(billable_hours(15), 0)

    def test_first_started_hour(self):
        self.assertEqual(billable_hours(16), 1)

    def test_full_hour(self):
        self.assertEqual(billable_hours(75), 1)

    def test_second_hour(self):
        self.assertEqual(billable_hours(76), 2)


class ChargeTest(unittest.TestCase):
    def test_visitor_pays(self):
        self.assertEqual(charge(90), 5.0)

    def test_visitor_in_free_period(self):
        self.assertEqual(charge(10), 0.0)

    def test_daily_cap(self):
        self.assertEqual(charge(12 * 60), 18.0)

    def test_permit_holder_parks_free(self):
        self.assertEqual(charge(300, has_permit=True), 0.0)

    def test_total(self):
        self.assertEqual(total_charges([(90, False), (300, True), (20, False)]), 7.5)


if __name__ == "__main__":
    unittest.main()
