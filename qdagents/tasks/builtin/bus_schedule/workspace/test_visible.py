import unittest

from bus_schedule import next_departure


class NextDepartureTest(unittest.TestCase):
    def test_next_bus_is_the_earliest_later_one(self):
        timetable = ["08:15", "07:40", "09:05"]
        self.assertEqual(next_departure(timetable, "07:50"), "08:15")


if __name__ == "__main__":
    unittest.main()
