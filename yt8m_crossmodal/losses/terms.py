"""The loss terms, in the order they are summed, and their weighted sum.

Each term is a module of this package, found here (adding a term touches its
module and its flags only), holding

- ``NAME`` (its parts are logged as ``<NAME>_<part>``), ``PARTS`` (what
  ``compute`` returns, ``loss`` first), ``ORDER`` (its place in the sum) and
  ``SECTION`` (TensorBoard's section of its parts: the loss that runs);
- ``CONFIG``, its frozen config dataclass;
- ``term_from(loss_config, has_timelines)``: its ``WeightedTerm`` read from
  the flags, or None where it does not apply;
- its pure ``keras.ops`` function, and ``compute(inputs, config)``, which
  reads what it needs of the batch's ``TermInputs``;
- optionally ``needs(config)``: ``{input: the setting that needs it}``.

:func:`terms_from` reads the flags, :func:`objective` sums the terms. Only
``keras.ops``.
"""

import functools
import importlib
import pkgutil
from typing import Any, Dict, Optional, Sequence, Tuple

from keras import ops

from yt8m_crossmodal.config import LossConfig
from yt8m_crossmodal.losses.base import TermInputs, WeightedTerm

_PACKAGE = __name__.rpartition(".")[0]


@functools.lru_cache(maxsize=None)
def modules() -> tuple:
  """The term modules of this package, in the order their terms are summed."""
  package = importlib.import_module(_PACKAGE)
  found = [importlib.import_module(f"{_PACKAGE}.{info.name}")
           for info in pkgutil.iter_modules(package.__path__)
           if f"{_PACKAGE}.{info.name}" != __name__]
  return tuple(sorted((m for m in found if hasattr(m, "term_from")), key=lambda m: m.ORDER))


@functools.lru_cache(maxsize=None)
def _by_config() -> dict:
  return {module.CONFIG: module for module in modules()}


def terms_from(loss_config: LossConfig, has_timelines: bool) -> Tuple[WeightedTerm, ...]:
  """The terms of ``loss_config`` with a positive weight, in the order they are summed.

  The timeline terms need timelines (frame level). The classification
  term's weight is the peak of its warm-up ramp.
  """
  terms = (module.term_from(loss_config, has_timelines) for module in modules())
  return tuple(t for t in terms if t is not None and t.weight > 0)


def module_of(term: WeightedTerm):
  """The module of ``term`` (by its config's type)."""
  return _by_config()[type(term.config)]


def needs(term: WeightedTerm) -> Dict[str, str]:
  """``{optional input: the setting that needs it}`` of ``term``."""
  module = module_of(term)
  return module.needs(term.config) if hasattr(module, "needs") else {}


def term_loss(inputs: TermInputs, config: Any) -> Dict[str, Any]:
  """The parts of the term that ``config`` configures."""
  return _by_config()[type(config)].compute(inputs, config)


def part_names(terms: Sequence[WeightedTerm]) -> list:
  """``<term>_<part>`` for every part of ``terms``, in order."""
  return [f"{t.name}_{part}" for t in terms for part in module_of(t).PARTS]


def objective(inputs: TermInputs, terms: Sequence[WeightedTerm],
              weights: Optional[Dict[str, Any]] = None):
  """The weighted sum of ``terms`` and their parts.

  Args:
    inputs: the batch.
    terms: e.g. ``terms_from(loss_config, has_timelines)``.
    weights: ``{term name: weight}`` replacing ``term.weight`` (a tensor, e.g.
      a warm-up ramp).

  Returns:
    ``(total, {"<term>_<part>": float32 scalar})``.
  """
  weights = weights or {}
  total, parts = 0.0, {}
  for term in terms:
    out = term_loss(inputs, term.config)
    total = total + weights.get(term.name, term.weight) * out["loss"]
    parts.update({f"{term.name}_{k}": ops.cast(out[k], "float32")
                  for k in module_of(term).PARTS})
  return total, parts
