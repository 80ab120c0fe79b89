"""What every console tool shows a user: help, one-line errors, no start-up noise."""

import os
import subprocess
import sys

import pytest

TOOLS = ("synth", "validate", "train", "export", "evaluate", "embed", "search", "human_eval")


def _run(tool, *args, **env):
  full_env = dict(os.environ, **env)
  full_env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # What a user has: nothing set.
  return subprocess.run([sys.executable, "-m", f"yt8m_crossmodal.tools.{tool}", *args],
                        capture_output=True, text=True, env=full_env, timeout=300)


def test_help_lists_the_tools_own_flags_and_exits_0():
  proc = _run("validate", "--help")
  assert proc.returncode == 0, proc.stderr
  assert proc.stdout.startswith("usage: ")
  assert "--data: File pattern(s)" in proc.stdout and "--max_bad_listed" in proc.stdout
  assert "tt_check_filter" not in proc.stdout and "--helpfull" in proc.stdout
  assert proc.stderr == ""
  full = _run("validate", "--helpfull")
  assert full.returncode == 0 and "--data" in full.stdout and "--verbosity" in full.stdout


@pytest.mark.parametrize("tool", ["validate", "search"])
def test_a_usage_error_is_one_line_on_stderr_without_start_up_noise(tool, tmp_path):
  args = {"validate": [f"--data={tmp_path}/none*"],
          "search": ["--index=", "--query_data=x"]}[tool]
  proc = _run(tool, *args)
  assert proc.returncode == 2
  assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: "), proc.stderr
  # --verbosity brings TensorFlow's own start-up lines back.
  loud = _run(tool, *args, "--verbosity=0")
  assert loud.returncode == 2 and loud.stderr.rstrip().splitlines()[-1].startswith("error: ")
  assert len(loud.stderr.splitlines()) > 1


def test_a_training_run_prints_no_onednn_line(tmp_path):
  # TF's C++ code logs "E0000 ... oneDNN supports DT_INT64 only on platforms
  # with AVX-512 ..." when it first optimizes the training step, after start-up.
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
  noise = [l for l in proc.stderr.splitlines() if "E0000" in l or "oneDNN" in l]
  assert noise == [], proc.stderr[-3000:]


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
