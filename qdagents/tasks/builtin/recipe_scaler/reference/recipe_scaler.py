"""Scales recipes to a number of servings and works out the shopping list."""


def scale(ingredients, from_servings, to_servings):
    """Each quantity multiplied by ``to_servings / from_servings``, rounded to 2 decimals."""
    factor = to_servings / from_servings
    return {name: round(quantity * factor, 2) for name, quantity in ingredients.items()}


def shopping_list(needed, pantry):
    """What must be bought: name -> missing amount, for ingredients the pantry is short of.

    An ingredient the pantry does not mention at all is missing entirely.
    """
    missing = {}
    for name, amount in needed.items():
        short = amount - pantry.get(name, 0)
        if short > 0:
            missing[name] = round(short, 2)
    return missing


def count_to_buy(needed, pantry):
    """How many different ingredients must be bought."""
    return len(shopping_list(needed, pantry))
