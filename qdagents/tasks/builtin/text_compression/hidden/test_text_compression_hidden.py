import unittest

from text_compression import decode_runs, encode_runs


class EncodeTest(unittest.TestCase):
    def test_empty(self):
        self.assertEqual(encode_runs(""), "")

    def test_no_runs(self):
        self.assertEqual(encode_runs("abc"), "abc")

    def test_runs(self):
        self.assertEqual(encode_runs("WWWBWW"), "3WB2W")

    def test_long_run(self):
        self.assertEqual(encode_runs("x" * 12 + "y"), "12xy")

    def test_spaces(self):
        self.assertEqual(encode_runs("  hi   there"), "2 hi3 there")

    def test_case_matters(self):
        self.assertEqual(encode_runs("aAAa"), "a2Aa")


class DecodeTest(unittest.TestCase):
    def test_empty(self):
        self.assertEqual(decode_runs(""), "")

    def test_no_runs(self):
        self.assertEqual(decode_runs("abc"), "abc")

    def test_long_run(self):
        self.assertEqual(decode_runs("12xy"), "x" * 12 + "y")

    def test_spaces(self):
        self.assertEqual(decode_runs("2 hi3 there"), "  hi   there")

    def test_round_trip(self):
        for text in ("zzzzzzzzzzzzzzzzzzzzzzzz", "a bb ccc dddd", "Mississippi"):
            self.assertEqual(decode_runs(encode_runs(text)), text)


if __name__ == "__main__":
    unittest.main()
