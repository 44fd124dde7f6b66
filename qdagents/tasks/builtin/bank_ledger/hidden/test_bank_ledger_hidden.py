import unittest

from bank_ledger import Account, InsufficientFunds


class DepositTest(unittest.TestCase):
    def test_deposit(self):
        account = Account("kim")
        account.deposit(25)
        self.assertEqual(account.balance, 25)

    def test_deposit_must_be_positive(self):
        with self.assertRaises(ValueError):
            Account("kim").deposit(0)


class WithdrawTest(unittest.TestCase):
    def test_part_of_the_balance(self):
        account = Account("kim", 100)
        account.withdraw(30)
        self.assertEqual(account.balance, 70)

    def test_whole_balance(self):
        account = Account("kim", 100)
        account.withdraw(100)
        self.assertEqual(account.balance, 0)

    def test_overdraft_is_refused(self):
        account = Account("kim", 100)
        with self.assertRaises(InsufficientFunds):
            account.withdraw(100.01)
        self.assertEqual(account.balance, 100)

    def test_empty_account(self):
        with self.assertRaises(InsufficientFunds):
            Account("kim").withdraw(1)

    def test_withdrawal_must_be_positive(self):
        with self.assertRaises(ValueError):
            Account("kim", 10).withdraw(-5)


class StatementTest(unittest.TestCase):
    def test_history(self):
        account = Account("kim", 10)
        account.deposit(5)
        account.withdraw(12)
        self.assertEqual(account.statement(), ["deposit 5", "withdraw 12"])
        self.assertEqual(account.balance, 3)


if __name__ == "__main__":
    unittest.main()
