import unittest

from playlist import tracks_that_fit


class TracksThatFitTest(unittest.TestCase):
    def test_last_track_does_not_fit(self):
        self.assertEqual(tracks_that_fit(["3:00", "3:00", "3:00"], 500), 2)


if __name__ == "__main__":
    unittest.main()
