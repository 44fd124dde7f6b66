import unittest

from meeting_rooms import free_slots, merge_bookings


class MergeTest(unittest.TestCase):
    def test_empty(self):
        self.assertEqual(merge_bookings([]), [])

    def test_overlapping_and_touching(self):
        bookings = [(600, 660), (540, 610), (700, 720), (720, 730)]
        self.assertEqual(merge_bookings(bookings), [(540, 660), (700, 730)])

    def test_contained(self):
        self.assertEqual(merge_bookings([(500, 800), (550, 600)]), [(500, 800)])

    def test_input_not_modified(self):
        bookings = [(700, 720), (540, 610)]
        merge_bookings(bookings)
        self.assertEqual(bookings, [(700, 720), (540, 610)])

    def test_separate(self):
        self.assertEqual(merge_bookings([(10, 20), (30, 40)]), [(10, 20), (30, 40)])


class FreeSlotsTest(unittest.TestCase):
    def test_no_bookings(self):
        self.assertEqual(free_slots([], 540, 1020), [(540, 1020)])

    def test_gaps(self):
        bookings = [(600, 660), (540, 570), (700, 720), (710, 800)]
        self.assertEqual(free_slots(bookings, 540, 1020),
                         [(570, 600), (660, 700), (800, 1020)])

    def test_bookings_past_the_day(self):
        self.assertEqual(free_slots([(480, 600), (960, 1100)], 540, 1020), [(600, 960)])

    def test_fully_booked(self):
        self.assertEqual(free_slots([(0, 1440)], 540, 1020), [])

    def test_min_length(self):
        bookings = [(560, 600), (605, 700)]
        self.assertEqual(free_slots(bookings, 540, 720, min_length=15), [(540, 560), (700, 720)])


if __name__ == "__main__":
    unittest.main()
