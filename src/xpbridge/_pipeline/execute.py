"""Execute: a plan compiled once into the function that carries it out.

A :class:`~xpbridge.Plan` names its steps; compiling binds them: the step
functions with the plan, in order, as one callable.  Where a backend offers a
*primitive* for a step (``torch.from_numpy``, ``Tensor.numpy``: one C call
that does exactly the step for sources of the plan's traits, and raises for
any other source), the compiled plan calls it directly, so that a warm
conversion is one dictionary hit and that call.

A primitive that raises one of its *refusals* says that the source was not
of the traits the plan was made for (the cheap key that found the plan did
not decide them all); the caller then takes the full path: describe the
source completely, plan, run.  Only steps that make views (no data moves,
nothing changes) may check a source this way, so that a tree can check
every leaf before converting any.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._lib.traits import Traits
from ..backends._base import Backend
from .observe import copy_made
from .plan import Plan

if TYPE_CHECKING:
    from .request import Request

__all__ = ["Compiled", "StalePlan", "compile_plan"]

Run = Callable[[Any], Any]
NO_REFUSALS: tuple[type[BaseException], ...] = ()


class Compiled:
    """A plan and the callable that carries it out, as the pipeline's memo holds them.

    Attributes
    ----------
    plan : Plan or None
        What the conversion does (None for an entry that sends sources down
        the full path: their key does not decide their plan).
    run : callable
        ``run(source) -> result``: every step.
    refusals : tuple of exception types
        What ``run`` raises for a source whose traits the key did not decide.
    check, rest : callable or None
        ``run`` in two parts for trees: ``check`` makes only views and raises
        the refusals (None when there is nothing to check); ``rest`` does the
        remaining steps (None when there are none).
    split : int
        How many of the plan's steps ``check`` does.
    view : callable or None
        ``check`` where it is every step and makes views only, nothing to
        observe (a zero-copy primitive): what a call's few arrays run.
    traits : Traits or None
        The traits planned: held, so that a memo keyed by their identity
        never finds another object at the same address.
    epoch : object
        The target's plan epoch when planned (JAX's x64 flag).
    """

    __slots__ = ("check", "epoch", "plan", "refusals", "rest", "run", "split", "traits", "view")

    def __init__(
        self,
        plan: Plan | None,
        run: Run,
        refusals: tuple[type[BaseException], ...] = NO_REFUSALS,
        check: Run | None = None,
        rest: Run | None = None,
        split: int = 0,
        traits: Traits | None = None,
        epoch: object = None,
    ) -> None:
        self.plan, self.run, self.refusals = plan, run, refusals
        self.check, self.rest = check, rest if check is not None or rest is not None else run
        self.split = split  # how many of the plan's steps ``check`` does
        zero_copy = plan is not None and not plan.reasons
        self.view = check if zero_copy and self.rest is None else None
        self.traits, self.epoch = traits, epoch

    def __repr__(self) -> str:
        steps = None if self.plan is None else self.plan.steps
        return f"Compiled(steps={steps}, refusals={tuple(e.__name__ for e in self.refusals)})"


def _bound(call: Callable[[Any, Any], Any], plan: Plan) -> Run:
    def run(x: Any) -> Any:
        return call(x, plan)

    return run


def _chained(runs: list[Run]) -> Run | None:
    if not runs:
        return None
    if len(runs) == 1:
        return runs[0]
    if len(runs) == 2:
        first, second = runs

        def both(x: Any) -> Any:
            return second(first(x))

        return both

    def every(x: Any) -> Any:
        for run in runs:
            x = run(x)
        return x

    return every


def _identity(x: Any) -> Any:
    return x


def compile_plan(
    plan: Plan,
    request: Request,
    traits: Traits,
    *,
    from_key: bool,
    checked: bool = False,
    unprepared: bool = False,
) -> Compiled | None:
    """Bind the plan's steps into one callable.

    ``from_key``: the plan was made for every source with one traits key
    (the memo of warm calls).  Steps then run as the backends' primitives
    where they offer one, and a target whose holdings change at run time
    (JAX's x64 flag) has its setting checked first; a refusal of either
    sends the source down the full path, whose plans are compiled from
    exact traits with the complete steps.

    ``checked``: the key only assumed some traits
    (:attr:`~xpbridge.backends.Backend.key_is_checked`); the compiled plan is
    then valid only when a primitive checks the source before anything else
    happens (views aside), and None is returned when none does.

    ``unprepared``: the source's backend prepares sources for their steps
    (:meth:`~xpbridge.backends.Backend.prepare`), which a warm call skips: the
    first step must then be a primitive that takes the source as it is, or
    None is returned.
    """
    runs: list[Run] = []
    refusals: tuple[type[BaseException], ...] = NO_REFUSALS
    checked_through = -1  # the index in runs of the step whose primitive checks the source
    dtype = traits.dtype  # what the next step receives
    for name, call in zip(plan.steps, plan.calls, strict=True):
        owner = getattr(call, "__self__", None)
        primitive = owner.primitive(name, plan, dtype) if from_key and owner is not None else None
        if name == "cast":
            dtype = plan.dtype
        if unprepared and not runs and primitive is None:
            return None
        if primitive is not None and not refusals:
            fast, refused_with = primitive
            if refused_with:
                refusals, checked_through = refused_with, len(runs)
            runs.append(fast)
            continue
        if checked and not refusals and name not in _VIEWS_BEFORE_CHECK:
            return None  # a step would act on a source the key did not decide
        runs.append(_bound(call, plan))
    if checked and not refusals:
        return None
    target = request.target
    epoch = target.plan_epoch()
    if from_key and type(target).plan_epoch is not Backend.plan_epoch:
        # A run-time setting decides what the target holds (JAX's x64 flag):
        # the compiled plan first checks that it still holds.
        runs.insert(0, _epoch_check(target, epoch))
        checked_through += 1
        refusals = (*refusals, StalePlan)
    if plan.reasons:  # a new buffer: observed first (the copy log, no_copies())
        runs.insert(0, _observed(plan))
        checked_through += 1
    run = _chained(runs) or _identity
    if not refusals:
        return Compiled(plan, run, traits=traits, epoch=epoch)
    check = _chained(runs[: checked_through + 1])
    rest = _chained(runs[checked_through + 1 :])
    split = len(plan.steps) - (len(runs) - checked_through - 1)
    return Compiled(plan, run, refusals, check, rest, split, traits, epoch)


def _observed(plan: Plan) -> Run:
    def observe(x: Any) -> Any:
        copy_made(plan)
        return x

    return observe


class StalePlan(Exception):
    """A compiled plan's target setting changed since it was planned (internal)."""


def _epoch_check(target: Backend, epoch: object) -> Run:
    def check(x: Any) -> Any:
        if target.plan_epoch() != epoch:
            raise StalePlan
        return x

    return check


# Steps that may run before a primitive has checked the source: they make a
# view and change nothing torch's checks read (device, lazy bits, layout).
_VIEWS_BEFORE_CHECK = frozenset({"detach"})
