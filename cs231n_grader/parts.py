"""The graded parts of the assignment, declared once.

Every other module derives its list of parts from :data:`PARTS`: the sealed checks (which parts
are called in the sandbox, in which order, for how many points), the reference loader (which
solution cells define the student's functions), the feedback (what was checked), the per-part
export and the demo's score table. ``tests/test_parts.py`` checks the table against the solution
notebook's nbgrader metadata (grade_ids and points).
"""

from __future__ import annotations

from dataclasses import dataclass

MANUAL = "manually graded by an instructor"


@dataclass(frozen=True)
class Part:
    """One graded part: the grade cells whose points it sums, and what the grader checks."""

    name: str  # the part, and its column in the per-part export
    grade_ids: tuple[str, ...]  # the notebook's grade cells of this part
    points: float  # the sum of those cells' points
    checked: str  # what the grader checks, shown in the feedback; "{n}" = the number of cases
    short: str  # column head in the demo's score table
    function: str | None = None  # the student's function = the grade_id of its solution cell
    autograded: bool = True  # False: graded by hand in formgrader
    slow: bool = False  # called last in the sandbox, so a hang there costs the least

    def what_is_checked(self, n: int | None = None) -> str:
        """``checked`` with the number of cases, or without it when unknown."""
        return self.checked.format(n=n) if n is not None else self.checked.replace("{n} ", "")


PARTS: tuple[Part, ...] = (
    Part(
        "forward",
        ("test_forward",),
        10,
        "forward() on {n} hidden cases (toy model, random shapes, N = 1, S1 exactly 0): "
        "S2 (70 % of a case) and the cache (30 %, counted only beside right scores)",
        "fwd",
        function="forward",
    ),
    Part(
        "softmax_loss",
        ("test_softmax_loss",),
        10,
        "softmax_loss() on {n} hidden cases (toy model, random shapes, N = 1, large scores): "
        "loss and P",
        "loss",
        function="softmax_loss",
    ),
    Part(
        "chain_rule_factors",
        ("test_chain_rule_factors",),
        10,
        "chain_rule_factors() on {n} hidden examples (toy model, other D, H, C, s1 exactly 0, a "
        "probability near 1): every factor and the four gradients, none made by numeric "
        "differentiation",
        "chain",
        function="chain_rule_factors",
    ),
    Part(
        "backward",
        ("test_backward",),
        20,
        "backward() on {n} hidden cases, given a P and a cache: all four gradients, computed "
        "without calling forward(), softmax_loss() or loss_and_grads()",
        "bwd",
        function="backward",
    ),
    Part(
        "train",
        ("test_train",),
        10,
        "train() on {n} small hidden problems, with stand-in loss/gradient helpers whose gradients "
        "depend on each minibatch: the minibatches, in-place SGD updates, learning-rate decay per "
        "epoch, the histories' lengths and values",
        "train",
        function="train",
        slow=True,
    ),
    Part(
        "predict",
        ("test_predict",),
        5,
        "predict() on {n} hidden cases: one label per row, the argmax of the scores "
        "forward() returns",
        "pred",
        function="predict",
    ),
    Part(
        "accuracy",
        ("test_accuracy",),
        10,
        "the reference forward pass on your best_net.npz: accuracy on the CIFAR-10 test images and "
        "the mirrored validation images (validation accuracy shown too)",
        "acc",
    ),
    Part("derivation", ("derivation",), 10, MANUAL, "deriv", autograded=False),
    Part(
        "written",
        ("q_train_test_gap", "q_max_subtraction", "q_dead_relu"),
        15,
        MANUAL,
        "written",
        autograded=False,
    ),
)
BY_NAME = {part.name: part for part in PARTS}
BY_GRADE_ID = {grade_id: part for part in PARTS for grade_id in part.grade_ids}

#: the solution cells (grade_ids) that each define one student function, in notebook order
FUNCTIONS = tuple(part.function for part in PARTS if part.function)
#: the parts whose function is called in the sandbox, cheap ones first
CALLED_PARTS = tuple(p.name for p in PARTS if p.function and not p.slow) + tuple(
    p.name for p in PARTS if p.function and p.slow
)
#: the parts the sealed checks score (one autograded test cell each)
SEALED_PARTS = tuple(p.name for p in PARTS if p.autograded)
DEFAULT_POINTS = {p.name: p.points for p in PARTS if p.autograded}
