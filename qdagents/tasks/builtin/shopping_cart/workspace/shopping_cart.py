"""A shopping cart total with percentage coupons and a delivery fee for small orders."""

FREE_DELIVERY_FROM = 50.0
DELIVERY_FEE = 4.5


def subtotal(lines):
    """Sum of price times quantity over ``(name, unit_price, quantity)`` lines."""
    return sum(price * quantity for _, price, quantity in lines)


def discount(amount, percent):
    """Money a ``percent`` coupon takes off ``amount``, rounded to cents."""
    return round(amount * percent / 100, 2)


def total(lines, coupon_percent=0):
    """What the customer pays: the subtotal less the coupon, plus delivery for small orders.

    Delivery is free when the discounted amount reaches ``FREE_DELIVERY_FROM``.
    """
    amount = subtotal(lines) + discount(subtotal(lines), coupon_percent)
    if amount < FREE_DELIVERY_FROM:
        amount += DELIVERY_FEE
    return round(amount, 2)
