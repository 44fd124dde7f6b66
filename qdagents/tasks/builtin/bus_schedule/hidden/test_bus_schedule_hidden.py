import unittest

from bus_schedule import next_departure, to_minutes, upcoming, wait_minutes

TIMETABLE = ["08:15", "07:40", "09:05", "12:30", "06:55"]


class ToMinutesTest(unittest.TestCase):
    def test_morning(self):
        self.assertEqual(to_minutes("07:45"), 465)

    def test_midnight(self):
        self.assertEqual(to_minutes("00:00"), 0)


class UpcomingTest(unittest.TestCase):
    def test_sorted_and_filtered(self):
        self.assertEqual(upcoming(TIMETABLE, "08:00"), ["08:15", "09:05", "12:30"])


class NextDepartureTest(unittest.TestCase):
    def test_between_buses(self):
        self.assertEqual(next_departure(TIMETABLE, "07:50"), "08:15")

    def test_bus_leaving_right_now_counts(self):
        self.assertEqual(next_departure(TIMETABLE, "09:05"), "09:05")

    def test_before_first_bus(self):
        self.assertEqual(next_departure(TIMETABLE, "05:00"), "06:55")

    def test_after_last_bus(self):
        self.assertIsNone(next_departure(TIMETABLE, "23:00"))

    def test_single_bus(self):
        self.assertEqual(next_departure(["10:00"], "09:00"), "10:00")


class WaitMinutesTest(unittest.TestCase):
    def test_wait(self):
        self.assertEqual(wait_minutes(TIMETABLE, "07:50"), 25)

    def test_no_wait(self):
        self.assertEqual(wait_minutes(TIMETABLE, "12:30"), 0)

    def test_after_last_bus(self):
        self.assertIsNone(wait_minutes(TIMETABLE, "13:00"))


if __name__ == "__main__":
    unittest.main()
