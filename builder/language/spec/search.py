"""`search:`: the space `builder search` samples and what it optimises."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from builder.language.spec.fields import Strict
from builder.language.spec.train import MetricKey

# --- search ---------------------------------------------------------------------------

SearchPath = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+$", max_length=300,
                                  description="Where the values go: `params.NAME`, `layers.ID.ARGUMENT` (a "
                                              "block instance: `layers.ID.repeat`, `layers.ID.with.PARAM`), "
                                              "`models.M.layers.ID.ARGUMENT`, `blocks.B.params.PARAM`, "
                                              "`blocks.B.layers.ID.ARGUMENT`, or a train setting such as "
                                              "`train.optimizer.learning_rate` or `train.batch_size`.")]


class IntRange(Strict):
    """Whole numbers from `low` to `high` (both included), every `step`, or log-uniform."""

    type: Literal["int"]
    low: int = Field(description="The smallest value.")
    high: int = Field(description="The largest value (low + a multiple of step).")
    step: int = Field(1, ge=1, le=2**31 - 1, description="The spacing of the values (not with log).")
    log: bool = Field(False, description="Sample on a log scale (low >= 1, step 1): as many 8-16 as 64-128.")

    @model_validator(mode="after")
    def _ordered(self):
        if self.low > self.high:
            raise ValueError(f"expected low <= high. Received: low={self.low}, high={self.high}")
        if self.log and (self.low < 1 or self.step != 1):
            raise ValueError(f"a log range needs low >= 1 and step 1. Received: low={self.low}, step={self.step}")
        if (self.high - self.low) % self.step:
            fit = self.low + (self.high - self.low) // self.step * self.step
            raise ValueError(f"expected high - low to be a multiple of step. Received: low={self.low}, "
                             f"high={self.high}, step={self.step} (high: {fit} would fit)")
        return self


class FloatRange(Strict):
    """Numbers from `low` to `high`, uniform or log-uniform (learning rates, dropout rates)."""

    type: Literal["float"]
    low: float = Field(description="The smallest value.")
    high: float = Field(description="The largest value.")
    step: float | None = Field(None, gt=0, description="Only multiples of step above low (not with log).")
    log: bool = Field(False, description="Sample on a log scale (low > 0): as many 1e-4..1e-3 as 1e-3..1e-2.")

    @model_validator(mode="after")
    def _ordered(self):
        if self.low > self.high:
            raise ValueError(f"expected low <= high. Received: low={self.low}, high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0. Received: low={self.low}")
        if self.log and self.step is not None:
            raise ValueError("give `log` or `step`, not both")
        return self


SearchValue = Union[bool, int, float, Annotated[str, Field(max_length=200)], None]


class Choice(Strict):
    """One of a list of values (an optimizer, an activation, a set of widths)."""

    type: Literal["choice"]
    values: list[SearchValue] = Field(min_length=1, max_length=1000, description="The values to choose from.")


SearchDimension = Annotated[Union[IntRange, FloatRange, Choice], Field(discriminator="type")]


class Objective(Strict):
    """What a search optimises: a metric as Keras logs it, or `params` (the model's parameter count)."""

    metric: MetricKey = Field("val_accuracy", description="val_accuracy, val_loss, accuracy, ... or params. "
                              "A trial's value is the metric at its last epoch.")
    direction: Literal["maximize", "minimize"] | None = Field(
        None, description="Default: minimize for params and losses, maximize otherwise.")

    @property
    def goal(self) -> str:
        """The direction, given or inferred from the metric's name."""
        if self.direction is not None:
            return self.direction
        return "minimize" if self.metric == "params" or "loss" in self.metric else "maximize"


class SearchSpec(Strict):
    """A search space over this spec, for `builder search`: dimensions by path, and what to optimise."""

    space: dict[SearchPath, SearchDimension] = Field(min_length=1, max_length=100, description="Each path "
                                                     "with its range or choices, e.g. `params.c1: {type: int, "
                                                     "low: 4, high: 16, step: 2}`.")
    objective: Objective | None = Field(None, description="One metric to optimise (default: val_accuracy, "
                                        "maximized).")
    objectives: list[Objective] | None = Field(None, min_length=2, max_length=2, description="Two metrics "
                                               "optimised together (e.g. val_accuracy and params); the search "
                                               "reports their Pareto front.")

    @model_validator(mode="after")
    def _one_or_two_objectives(self):
        if self.objective is not None and self.objectives is not None:
            raise ValueError("give `objective` (one) or `objectives` (two), not both")
        return self

    @property
    def goals(self) -> list[Objective]:
        """The objectives, in order: `objectives`, else `[objective]`, else val_accuracy maximized."""
        return list(self.objectives or [self.objective or Objective()])
