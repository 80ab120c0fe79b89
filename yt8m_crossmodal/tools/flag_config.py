"""absl flags built from frozen dataclasses; the only module that reads FLAGS.

(Named so as not to shadow ``absl.flags``.)

Every command-line tool describes its options as a frozen dataclass whose
fields carry ``metadata={"help": ...}`` (see :mod:`yt8m_crossmodal.config`).
:func:`define` turns the fields into absl flags of the same names and
:func:`read` turns the parsed flags back into a dataclass instance, so a flag
is always named after the config field it sets.

The tools call it through :func:`yt8m_crossmodal.tools.runner.run_tool`.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, List, Type, TypeVar

from absl import flags as absl_flags

from yt8m_crossmodal import config as config_lib
from yt8m_crossmodal import experiments
from yt8m_crossmodal.errors import UsageError

FLAGS = absl_flags.FLAGS
T = TypeVar("T")

# The flag that picks a named configuration of the training Config.
EXPERIMENT_FLAG = "config"


def _define_field(f: dataclasses.Field, hint: Any) -> None:
  name = f.name
  if name in FLAGS:  # Already defined (e.g. a tool imported twice in tests).
    return
  default = f.default
  if default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
    default = f.default_factory()
  help_text = f.metadata.get("help", name)
  choices = f.metadata.get("choices")
  if hint is bool:
    absl_flags.DEFINE_bool(name, default, help_text)
  elif hint is int:
    absl_flags.DEFINE_integer(name, default, help_text)
  elif hint is float:
    absl_flags.DEFINE_float(name, default, help_text)
  elif typing.get_origin(hint) is tuple:
    absl_flags.DEFINE_list(name, [str(v) for v in default], help_text)
  elif choices:
    absl_flags.DEFINE_enum(name, default, list(choices), help_text)
  else:
    absl_flags.DEFINE_string(name, default, help_text)


def _hints(klass: type) -> dict:
  return typing.get_type_hints(klass)


def define(*klasses: type) -> List[str]:
  """Defines one absl flag per field of each dataclass in ``klasses``.

  ``Config`` (the nested training config) defines the fields of all sections,
  and ``--config``, a named configuration of :mod:`yt8m_crossmodal.experiments`
  to start from.

  Returns:
    The flag names, in field order.
  """
  names = []
  for klass in klasses:
    if klass is config_lib.Config:
      for section, f in config_lib.all_fields():
        sec_klass = type(getattr(config_lib.Config(), section))
        _define_field(f, _hints(sec_klass)[f.name])
        names.append(f.name)
      if EXPERIMENT_FLAG not in FLAGS:
        absl_flags.DEFINE_string(
            EXPERIMENT_FLAG, "", "Named configuration to start from, one of "
            f"{', '.join(sorted(experiments.EXPERIMENTS))} (yt8m_crossmodal.experiments); "
            "flags given explicitly override it.")
      names.append(EXPERIMENT_FLAG)
      continue
    hints = _hints(klass)
    for f in dataclasses.fields(klass):
      _define_field(f, hints[f.name])
      names.append(f.name)
  return names


def define_switch(name: str, default: bool, help_text: str) -> None:
  """A boolean flag of the tools themselves (not of a config), e.g. --progress."""
  if name not in FLAGS:
    absl_flags.DEFINE_bool(name, default, help_text)


def switch(name: str) -> bool:
  """The parsed value of a :func:`define_switch` flag."""
  return bool(FLAGS[name].value)


def _value(f: dataclasses.Field, hint: Any) -> Any:
  value = FLAGS[f.name].value
  if typing.get_origin(hint) is tuple:
    (elem, *_) = typing.get_args(hint) or (str,)
    try:
      return tuple(elem(v) for v in value)
    except ValueError as e:
      raise UsageError(
          f"--{f.name}: cannot read {','.join(value)!r} as a list of "
          f"{elem.__name__}") from e
  return value


def read(klass: Type[T]) -> T:
  """Builds an instance of ``klass`` from the parsed flags.

  For ``Config``, a field whose flag is not given takes the value of the
  ``--config`` named configuration, if that sets it.
  """
  if klass is config_lib.Config:
    name = FLAGS[EXPERIMENT_FLAG].value
    named = experiments.overrides(name) if name else {}
    sections = {}
    for section in ("data", "model", "loss", "train"):
      sec_klass = type(getattr(config_lib.Config(), section))
      hints = _hints(sec_klass)
      sections[section] = sec_klass(**{
          f.name: (named[f.name] if f.name in named and not FLAGS[f.name].present
                   else _value(f, hints[f.name]))
          for f in dataclasses.fields(sec_klass)
      })
    return config_lib.Config(**sections)
  hints = _hints(klass)
  return klass(**{f.name: _value(f, hints[f.name]) for f in dataclasses.fields(klass)})

