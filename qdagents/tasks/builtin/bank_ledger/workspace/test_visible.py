import unittest

from bank_ledger import Account


class WithdrawTest(unittest.TestCase):
    def test_withdraw_part_of_the_balance(self):
        account = Account("kim", 100)
        account.withdraw(30)
        self.assertEqual(account.balance, 70)


if __name__ == "__main__":
    unittest.main()
