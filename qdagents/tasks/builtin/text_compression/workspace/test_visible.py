import unittest

from text_compression import decode_runs, encode_runs


class RunLengthTest(unittest.TestCase):
    def test_encode(self):
        self.assertEqual(encode_runs("WWWBWW"), "3WB2W")

    def test_decode(self):
        self.assertEqual(decode_runs("3WB2W"), "WWWBWW")


if __name__ == "__main__":
    unittest.main()
