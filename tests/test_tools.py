"""What every console tool shows a user: help, one-line errors, no start-up noise."""

import os
import subprocess
import sys

import pytest

TOOLS = ("synth", "validate", "train", "export", "evaluate", "embed", "search", "human_eval")


def _run(tool, *args, **env):
  full_env = dict(_env(), **env)  # What a user has: nothing set.
  return subprocess.run([sys.executable, "-m", f"yt8m_crossmodal.tools.{tool}", *args],
                        capture_output=True, text=True, env=full_env, timeout=300)


def test_help_lists_the_tools_own_flags_and_exits_0():
  proc = _run("validate", "--help")
  assert proc.returncode == 0, proc.stderr
  assert proc.stdout.startswith("usage: ")
  assert "--data: The TFRecords to check: comma-separated list of file globs" in proc.stdout
  assert "ranges such as train0[0-5].tfrecord" in proc.stdout
  assert "--max_bad_listed" in proc.stdout and "--[no]verbose" in proc.stdout
  assert "tt_check_filter" not in proc.stdout and "--helpfull" in proc.stdout
  assert proc.stderr == ""
  full = _run("validate", "--helpfull")
  assert full.returncode == 0 and "--data" in full.stdout and "--verbosity" in full.stdout


def _console_tools():
  """``{script: module}`` of every console script of setup.cfg."""
  import configparser
  parser = configparser.ConfigParser()
  parser.read(os.path.join(os.path.dirname(__file__), "..", "setup.cfg"))
  scripts = {}
  for line in parser["options.entry_points"]["console_scripts"].strip().splitlines():
    name, target = (part.strip() for part in line.split("="))
    scripts[name] = target.split(":")[0]
  return scripts


# Runs a tool as its console script does; prints the exit status, the seconds
# from start to exit (interpreter start-up aside) and whether TF or Keras loaded.
_NO_TENSORFLOW = """
import runpy, sys, time
sys.argv[0] = {module!r}
start = time.perf_counter()
code = 0
try:
  runpy.run_module({module!r}, run_name="__main__")
except SystemExit as e:
  code = e.code
print(code, round(time.perf_counter() - start, 3), "tensorflow" in sys.modules,
      "keras" in sys.modules)
"""


def _mistake(module, *args):
  """Runs tool ``module`` in a fresh process: (exit code, seconds, TF loaded, stderr)."""
  code = _NO_TENSORFLOW.format(module=module)
  proc = subprocess.run([sys.executable, "-c", code, *args],
                        capture_output=True, text=True, env=_env(), timeout=120)
  status, seconds, tf_loaded, keras_loaded = proc.stdout.split()
  return int(status), float(seconds), tf_loaded == "True" or keras_loaded == "True", proc.stderr


def _env():
  return {k: v for k, v in os.environ.items()
          if k not in ("TF_CPP_MIN_LOG_LEVEL", "YT8M_VERBOSE")}


def test_every_tool_answers_an_unknown_flag_without_loading_tensorflow():
  """Every console script, those added later too: flags are parsed before TF loads."""
  tools = _console_tools()
  assert {"yt8m-train", "yt8m-validate", "yt8m-search"} <= set(tools)
  for name, module in sorted(tools.items()):
    status, seconds, tf_loaded, stderr = _mistake(module, "--no_such_flag=1")
    assert status == 2 and not tf_loaded, (name, stderr)
    assert stderr.startswith("error: ") and stderr.count("\n") == 1, (name, stderr)
    print(f"{name}: {seconds:.2f} s")


@pytest.mark.parametrize("tool,args,message", [
    ("train", ["--feature_level=video", "--train_data=x*"], "--model_dir is required"),
    ("train", ["--train_data={tmp}/none*", "--model_dir={tmp}/run"],
     "No files match the pattern '{tmp}/none*' of --train_data"),
    ("train", ["--train_data={tmp}/none*", "--model_dir={tmp}/run", "--backend=jax",
               "--distribution_strategy=mirrored"], "needs --backend=tensorflow"),
    ("validate", ["--data={tmp}/none*"], "No files match the pattern"),
    ("export", ["--model_dir={tmp}/none", "--export_dir={tmp}/saved"], "no such folder"),
    ("evaluate", ["--export_dir={tmp}", "--data={tmp}/none*"], "of --data"),
    ("embed", ["--export_dir={tmp}/none", "--data=x", "--output={tmp}/index"],
     "--export_dir '{tmp}/none': no such folder"),
    ("search", ["--index={tmp}/none", "--export_dir={tmp}", "--query_data=x"],
     "--index '{tmp}/none': no such"),
    ("sync", ["--export_dir={tmp}", "--data={tmp}/a,{tmp}/b*"], "of --data"),
    ("synth", ["--output_dir={tmp}/file/sub"], "is a file"),
    ("human_eval", ["--results={tmp}/none*.csv"], "--results matches no file"),
    ("pictures", ["--index={tmp}", "--export_dir={tmp}", "--audio_data={tmp}/none*"],
     "No files match the pattern '{tmp}/none*' of --audio_data"),
    ("pictures", ["--index={tmp}", "--export_dir={tmp}", "--audio_data={tmp}/file",
                  "--window_index={tmp}/file/windows"], "cannot create --window_index"),
    ("soundtracks", ["--index={tmp}/none", "--export_dir={tmp}", "--visual_data=x"],
     "--index '{tmp}/none': no such folder"),
    ("soundtracks", ["--index={tmp}", "--export_dir={tmp}", "--visual_data={tmp}/file",
                     "--manifest={tmp}/none*.jsonl"], "--manifest matches no file"),
    ("search", ["--index={tmp}", "--export_dir={tmp}", "--query_data={tmp}/file",
                "--output={tmp}"], "is a folder"),
])
def test_a_mistake_is_answered_before_tensorflow_loads(tool, args, message, tmp_path):
  (tmp_path / "file").write_text("x")
  args = [a.format(tmp=tmp_path) for a in args]
  status, seconds, tf_loaded, stderr = _mistake(f"yt8m_crossmodal.tools.{tool}", *args)
  assert status == 2 and not tf_loaded, stderr
  assert stderr.count("\n") == 1 and stderr.startswith("error: "), stderr
  assert message.format(tmp=tmp_path) in stderr
  assert seconds < 5.0, seconds  # About 0.1 s alone; TensorFlow takes 5-10 s to load.
  assert not (tmp_path / "run").exists()


def test_verbose_shows_the_library_lines_that_are_kept_off_otherwise(frame_data_dir):
  """(Without it: the normal runs of the tools' tests check that there are none.)"""
  import helpers
  data = f"--data={frame_data_dir}/train0000.tfrecord"
  for flag in ("--verbose", "--verbosity=0"):  # The second: the older way.
    loud = _run("validate", data, flag)
    assert loud.returncode == 0 and helpers.library_lines(loud.stderr), (flag, loud.stderr)


def test_a_training_run_prints_no_library_line(tmp_path):
  # TF's C++ code logs "E0000 ... oneDNN supports DT_INT64 only on platforms
  # with AVX-512 ..." when it first optimizes the training step, after start-up.
  import helpers
  from yt8m_crossmodal.data import synthetic
  from yt8m_crossmodal.jobs import synth as synth_job
  synth_job.write_dataset(synthetic.SynthConfig(
      output_dir=str(tmp_path / "data"), num_videos=8, num_shards=1, min_frames=8,
      max_frames=10, seed=1))
  proc = _run("train", f"--train_data={tmp_path}/data/*", f"--model_dir={tmp_path}/run",
              "--epochs=1", "--batch_size=4", "--lstm_units=4", "--projection_units=4",
              "--embedding_size=4", "--window_strides=1", "--max_frames=10",
              "--timeline_nce_seconds=4", "--sync_loss_window=4", "--sync_loss_offsets=1",
              "--warmup_steps=0", "--shuffle_buffer=0")
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert helpers.library_lines(proc.stderr) == [], proc.stderr[-3000:]
  # The package's own lines stay, as plain text.
  assert "one pass over the training data: 2 steps per epoch" in proc.stderr.splitlines()


def test_an_import_time_failure_is_not_swallowed(tmp_path):
  # A broken module on the path of the tool: its traceback must reach the user.
  (tmp_path / "yt8m_crossmodal_broken.py").write_text("raise RuntimeError('boom')\n")
  code = ("import yt8m_crossmodal.tools.validate\n"
          "import yt8m_crossmodal_broken\n")
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                        env=dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}"
                                 + os.environ.get("PYTHONPATH", "")), timeout=300)
  assert proc.returncode != 0 and "RuntimeError: boom" in proc.stderr


def test_progress_line_counts_rate_and_eta():
  import io
  from yt8m_crossmodal.progress import Progress
  out = io.StringIO()
  bar = Progress("videos", total=10, stream=out, interval=0.0, force=True)
  for i in range(1, 5):
    bar.update(i)
  bar.close()
  text = out.getvalue()
  assert text.endswith("\n") and text.count("\r") == 5
  last = text.rsplit("\r", 1)[-1]
  assert last.startswith("videos: 4/10 (40%), ") and "/s" in last and "ETA" in last
  quiet = io.StringIO()  # Not a terminal and not forced: nothing at all.
  bar = Progress("videos", total=10, stream=quiet, interval=0.0)
  bar.update(3)
  bar.close()
  assert quiet.getvalue() == ""


@pytest.mark.parametrize("args", [["--learning_rate=abc"], ["--no_such_flag=1"]])
def test_a_bad_flag_value_or_unknown_flag_is_one_line_and_exit_2(args):
  proc = _run("train", *args)
  assert proc.returncode == 2, proc.stderr
  assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: "), proc.stderr
  assert args[0].split("=")[0].lstrip("-") in proc.stderr and "FATAL" not in proc.stderr


def test_a_full_disk_anywhere_is_one_line_naming_the_file(capsys):
  import errno
  from yt8m_crossmodal.tools import runner

  def tool(argv):
    raise OSError(errno.ENOSPC, "No space left on device", "/data/run/model.keras")

  with pytest.raises(SystemExit) as exit_info:
    runner.friendly_errors(tool)([])
  err = capsys.readouterr().err
  assert exit_info.value.code == 2
  assert err == "error: [Errno 28] No space left on device: '/data/run/model.keras'\n"


@pytest.mark.parametrize("args", [("--help",), ("--helpfull",)])
def test_a_closed_stdout_ends_the_tool_quietly(args):
  """``yt8m-... | head``: the reader went away; no traceback, SIGPIPE's status."""
  read_end, write_end = os.pipe()
  os.close(read_end)
  env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
  try:
    proc = subprocess.run([sys.executable, "-m", "yt8m_crossmodal.tools.search", *args],
                          stdout=write_end, stderr=subprocess.PIPE, text=True, env=env,
                          timeout=300)
  finally:
    os.close(write_end)
  assert proc.returncode == 141
  assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr


def test_train_config_flag_starts_from_a_named_configuration_and_flags_override_it():
  from absl import flags
  from yt8m_crossmodal import config as config_lib
  from yt8m_crossmodal import experiments
  from yt8m_crossmodal.errors import UsageError
  from yt8m_crossmodal.tools import flag_config
  flag_config.define(config_lib.Config)
  try:
    flags.FLAGS(["yt8m-train", "--config=fused_timeline", "--temporal_weight=0.5",
                 "--lstm_units=8"])
    config = flag_config.read(config_lib.Config)
    assert config == experiments.get("fused_timeline", temporal_weight=0.5, lstm_units=8)
    assert config.model.timeline_source == "fused" and config.loss.temporal_weight == 0.5
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["yt8m-train", "--config=no_such_experiment"])
    with pytest.raises(UsageError, match="--config must be one of"):
      flag_config.read(config_lib.Config)
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["yt8m-train"])
    assert flag_config.read(config_lib.Config) == config_lib.Config()
  finally:
    flags.FLAGS.unparse_flags()


def test_every_named_configuration_is_a_valid_config():
  from yt8m_crossmodal import experiments
  for name in experiments.EXPERIMENTS:
    experiments.get(name, train_data="x", model_dir="y", video_linear_dims=0).validate()


def test_every_records_flag_says_it_takes_lists_and_ranges():
  """The --help of each flag that reads TFRecords (the tools added later too)."""
  import dataclasses
  from yt8m_crossmodal import config as config_lib
  from yt8m_crossmodal import paths
  from yt8m_crossmodal.jobs import config as jobs_config
  fields = [f for _, f in config_lib.all_fields()]
  for klass in vars(jobs_config).values():
    if isinstance(klass, type) and dataclasses.is_dataclass(klass):
      fields += dataclasses.fields(klass)
  records = [f for f in fields if f.metadata.get("path") == paths.RECORDS]
  names = {f.name for f in records}
  assert {"train_data", "data", "query_data", "audio_data", "visual_data"} <= names
  assert [f.name for f in records if paths.PATTERN_HELP not in f.metadata["help"]] == []
