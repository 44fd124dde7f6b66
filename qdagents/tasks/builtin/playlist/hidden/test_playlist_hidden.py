import unittest

from playlist import format_duration, parse_duration, total_length, tracks_that_fit


class DurationTest(unittest.TestCase):
    def test_parse(self):
        self.assertEqual(parse_duration("3:07"), 187)

    def test_format(self):
        self.assertEqual(format_duration(187), "3:07")
        self.assertEqual(format_duration(4500), "75:00")

    def test_total(self):
        self.assertEqual(total_length(["3:07", "4:53", "0:30"]), "8:30")


class TracksThatFitTest(unittest.TestCase):
    def test_last_track_does_not_fit(self):
        self.assertEqual(tracks_that_fit(["3:00", "3:00", "3:00"], 500), 2)

    def test_everything_fits(self):
        self.assertEqual(tracks_that_fit(["3:00", "3:00", "3:00"], 1000), 3)

    def test_exact_fit(self):
        self.assertEqual(tracks_that_fit(["3:00", "3:00"], 360), 2)

    def test_first_track_too_long(self):
        self.assertEqual(tracks_that_fit(["9:00", "1:00"], 120), 0)

    def test_single_track_too_long(self):
        self.assertEqual(tracks_that_fit(["4:00"], 200), 0)

    def test_empty_playlist(self):
        self.assertEqual(tracks_that_fit([], 100), 0)


if __name__ == "__main__":
    unittest.main()
