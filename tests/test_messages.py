"""What the package tells a user names only flags that exist, on the tool that says it.

Every ``--flag`` in the package's strings (error and log messages, flag help;
docstrings aside, which show other programs' command lines too) must be a
flag of some console tool. Where the tool is known, it must be that tool's:
strings in a tool's config class, in its job modules (``jobs/<tool>*.py``),
in the training modules (``yt8m-train``), or on a ``yt8m-<tool> --flag``
command line in the string.
"""

import ast
import configparser
import dataclasses
import importlib
import os
import re

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")
PACKAGE = os.path.join(ROOT, "yt8m_crossmodal")

FLAG = re.compile(r"(?<![\w/.-])--([a-z][a-z0-9_]*)")
TOOL_MENTION = re.compile(r"\byt8m-([a-z][a-z0-9-]*)")
# absl's own flags, on every tool.
ABSL_FLAGS = {"help", "helpfull", "helpshort", "flagfile", "verbosity", "v"}
# Apache Beam's pipeline options, quoted in yt8m-embed's --pipeline_options help.
BEAM_OPTIONS = {"direct_num_workers", "direct_running_mode", "project", "region",
                "temp_location"}
TRAINING_MODULES = ("config.py", "experiments.py", "training", "models", "losses", "layers")


def _console_tools():
  """``{tool name without yt8m-: module path}`` from setup.cfg."""
  parser = configparser.ConfigParser()
  parser.read(os.path.join(ROOT, "setup.cfg"))
  tools = {}
  for line in parser["options.entry_points"]["console_scripts"].strip().splitlines():
    name, target = (part.strip() for part in line.split("="))
    tools[name[len("yt8m-"):]] = target.split(":")[0]
  return tools


def _config_class(tool_module):
  """The config class a tool module passes to ``run_tool`` (read from its source)."""
  path = os.path.join(ROOT, *tool_module.split(".")) + ".py"
  tree = ast.parse(open(path).read())
  call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call)
              and getattr(n.func, "id", getattr(n.func, "attr", "")) == "run_tool")
  arg = call.args[0]
  if isinstance(arg, ast.Attribute):  # module.Class
    base = next(n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                and any((a.asname or a.name) == arg.value.id for a in n.names))
    module = importlib.import_module(f"{base.module}.{arg.value.id}")
    return getattr(module, arg.attr)
  source = next(n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                and any((a.asname or a.name) == arg.id for a in n.names))
  return getattr(importlib.import_module(source.module), arg.id)


def _flags(klass):
  from yt8m_crossmodal import config as config_lib
  from yt8m_crossmodal.tools import runner
  if klass is config_lib.Config:
    names = {f.name for _, f in config_lib.all_fields()} | {"config"}
  else:
    names = {f.name for f in dataclasses.fields(klass)}
  return names | set(runner.SWITCHES) | ABSL_FLAGS


@pytest.fixture(scope="module")
def tools():
  """``{tool: (config class, its flags)}`` of every console tool."""
  out = {}
  for name, module in _console_tools().items():
    klass = _config_class(module)
    out[name] = (klass, _flags(klass))
  return out


def _docstrings(tree):
  ids = set()
  for node in ast.walk(tree):
    if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
      first = node.body[0] if node.body else None
      if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        ids.add(id(first.value))
  return ids


def _strings(tree):
  """``(class name or None, text)`` of every string constant but docstrings."""
  docs = _docstrings(tree)
  out = []

  def visit(node, klass):
    if isinstance(node, ast.ClassDef):
      klass = node.name
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
      out.append((klass, node.value))
    for child in ast.iter_child_nodes(node):
      visit(child, klass)

  visit(tree, None)
  return out


# What may stand between a tool's name and one of its flags on a command line.
_COMMAND_LINE = re.compile(r"(\s+--\S+)*\s+")


def _named_flags(text):
  """``(tool whose command line it is on or None, flag)`` of each --flag in ``text``."""
  for match in FLAG.finditer(text):
    mentions = list(TOOL_MENTION.finditer(text, 0, match.start()))
    tool = None
    if mentions and _COMMAND_LINE.fullmatch(text, mentions[-1].end(), match.start()):
      tool = mentions[-1].group(1)
    yield tool, match.group(1)


def _known(flag, names):
  return flag in names or (flag.startswith("no") and flag[2:] in names)


def _wrong_flags(text, owner, tools):
  """The flags of ``text`` that its tool (named in it, else ``owner``) lacks."""
  all_flags = set().union(*(flags for _, flags in tools.values())) | BEAM_OPTIONS
  for mentioned, flag in _named_flags(text):
    tool = mentioned if mentioned in tools else owner
    allowed = tools[tool][1] | BEAM_OPTIONS if tool else all_flags
    if not _known(flag, allowed):
      yield tool, flag


def test_every_flag_in_a_message_exists_on_the_tool_that_says_it(tools):
  by_class = {(k.__module__, k.__name__): name for name, (k, _) in tools.items()}
  wrong, checked = [], 0
  for dirpath, _, names in os.walk(PACKAGE):
    for file_name in sorted(names):
      if not file_name.endswith(".py"):
        continue
      path = os.path.join(dirpath, file_name)
      rel = os.path.relpath(path, PACKAGE)
      module = "yt8m_crossmodal." + rel[:-3].replace(os.sep, ".")
      module_tool = None
      if rel.startswith("jobs" + os.sep):
        job = file_name[:-3]
        module_tool = max((t for t in tools if job.startswith(t.replace("-", "_"))),
                          key=len, default=None)
      elif rel.startswith(TRAINING_MODULES):
        module_tool = "train"
      for klass, text in _strings(ast.parse(open(path).read())):
        owner = by_class.get((module, klass), module_tool)
        checked += len(list(_named_flags(text)))
        wrong += [f"{rel}: --{flag} (yt8m-{tool or '*'}) in {text[:80]!r}"
                  for tool, flag in _wrong_flags(text, owner, tools)]
  assert checked > 100
  assert not wrong, "\n".join(wrong)


def test_the_check_finds_flags_that_do_not_exist(tools):
  """The example of the issue, and a flag of another tool."""
  text = "a frame-level query: read it with yt8m-search --feature_level=frame"
  assert list(_wrong_flags(text, None, tools)) == [("search", "feature_level")]
  assert list(_wrong_flags("pass --timelines", "search", tools)) == [("search", "timelines")]
  assert list(_wrong_flags("embed with yt8m-embed --timelines", "search", tools)) == []
  assert list(_wrong_flags("--no_such_flag", None, tools)) == [(None, "no_such_flag")]
