"""Stock levels for a small shop: when to reorder an item and how much to order."""


def needs_reorder(stock, reorder_level):
    """An item is due for reorder once its stock is at the reorder level or below it."""
    return stock <= reorder_level


def reorder_quantity(stock, reorder_level, target):
    """Units to order to bring the stock back up to ``target``; 0 when no reorder is due."""
    if not needs_reorder(stock, reorder_level):
        return 0
    return target - stock


def reorder_list(items):
    """Names of the items due for reorder, sorted alphabetically.

    ``items`` maps an item name to a ``(stock, reorder_level)`` pair.
    """
    due = [name for name, (stock, level) in items.items() if needs_reorder(stock, level)]
    return sorted(due)


def stock_value(items, prices):
    """Total value of the stock, given ``prices`` mapping item names to unit prices."""
    return sum(stock * prices[name] for name, (stock, _) in items.items())
