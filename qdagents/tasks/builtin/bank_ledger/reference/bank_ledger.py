"""A small bank account ledger that refuses overdrafts and keeps a history."""


class InsufficientFunds(Exception):
    """Raised when a withdrawal is larger than the balance."""


class Account:
    """One account: a balance and the list of movements that led to it."""

    def __init__(self, owner, balance=0):
        self.owner = owner
        self.balance = balance
        self.history = []

    def deposit(self, amount):
        if amount <= 0:
            raise ValueError("a deposit must be positive")
        self.balance += amount
        self.history.append(("deposit", amount))

    def withdraw(self, amount):
        """Takes ``amount`` out; the whole balance may be withdrawn, but not a cent more."""
        if amount <= 0:
            raise ValueError("a withdrawal must be positive")
        if amount > self.balance:
            raise InsufficientFunds(f"{self.owner} has {self.balance}, needs {amount}")
        self.balance -= amount
        self.history.append(("withdraw", amount))

    def statement(self):
        """One line per movement, oldest first."""
        return [f"{kind} {amount}" for kind, amount in self.history]
