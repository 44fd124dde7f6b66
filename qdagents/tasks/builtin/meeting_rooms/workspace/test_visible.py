import unittest

from meeting_rooms import free_slots, merge_bookings


class MeetingRoomTest(unittest.TestCase):
    def test_merge(self):
        self.assertEqual(merge_bookings([(600, 660), (540, 610)]), [(540, 660)])

    def test_free(self):
        self.assertEqual(free_slots([(600, 660)], 540, 720), [(540, 600), (660, 720)])


if __name__ == "__main__":
    unittest.main()
