"""Course grades: averages, weighted averages and letter grades."""

LETTERS = [(90, "A"), (80, "B"), (70, "C"), (60, "D")]


def average(scores):
    """Mean score; an empty list averages to 0 so a new student does not break the report."""
    if not scores:
        return 0.0
    return sum(scores) / len(scores)


def weighted_average(parts):
    """Mean of ``(score, weight)`` pairs, each score counting by its weight."""
    total_weight = sum(weight for _, weight in parts)
    if total_weight == 0:
        return 0.0
    return sum(score * weight for score, weight in parts) / total_weight


def letter(score):
    """Letter grade for a score out of 100."""
    for threshold, grade in LETTERS:
        if score >= threshold:
            return grade
    return "F"


def report(students):
    """Maps each student's name to the letter grade of their average score."""
    return {name: letter(average(scores)) for name, scores in students.items()}
