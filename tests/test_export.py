"""yt8m-export: signature contract, fresh-process serving, TF Serving formats.

Also provides the tiny shared exports used by test_evaluate.py and
test_search.py (:func:`shared_export`, built once per session).
"""

import base64
import json
import os
import re
import subprocess
import sys
import types

import numpy as np
import pytest
import tensorflow as tf

import keras

from yt8m_crossmodal import config as config_lib
from yt8m_crossmodal import retrieval
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.jobs import export as export_job
from yt8m_crossmodal.serving import exporter, loading, saved_model_info
from yt8m_crossmodal.data import pipeline

import helpers
import records
from helpers import (CATALOGUE_SIZE, E, MAX_FRAMES, SEARCH_K, empty_catalogue,
                     keras_encode, make_model_dir, numpy_top_k, random_catalogue,
                     tiny_config)

ATOL = 1e-5

# The contract: signature -> (inputs {key: (dtype, shape)}, outputs {...}).
FRAME_CONTRACT = {
    "encode_audio": ({"audio": ("float32", [None, None, 128]), "num_frames": ("int32", [None])},
                     {"embedding": ("float32", [None, E]),
                      "timeline": ("float32", [None, None, E])}),
    "encode_visual": ({"visual": ("float32", [None, None, 1024]),
                       "num_frames": ("int32", [None])},
                      {"embedding": ("float32", [None, E]),
                       "timeline": ("float32", [None, None, E])}),
    "encode_examples": ({"examples": ("string", [None])},
                        {"id": ("string", [None]), "audio_embedding": ("float32", [None, E]),
                         "visual_embedding": ("float32", [None, E]),
                         "audio_timeline": ("float32", [None, None, E]),
                         "visual_timeline": ("float32", [None, None, E])}),
    "search_by_audio": ({"audio": ("float32", [None, None, 128]),
                         "num_frames": ("int32", [None])},
                        {"ids": ("string", [None, SEARCH_K]),
                         "scores": ("float32", [None, SEARCH_K])}),
    "search_by_visual": ({"visual": ("float32", [None, None, 1024]),
                          "num_frames": ("int32", [None])},
                         {"ids": ("string", [None, SEARCH_K]),
                          "scores": ("float32", [None, SEARCH_K])}),
    "estimate_offset": ({"audio": ("float32", [None, None, 128]),
                         "audio_num_frames": ("int32", [None]),
                         "visual": ("float32", [None, None, 1024]),
                         "visual_num_frames": ("int32", [None]),
                         "start": ("int32", [None]), "max_offset": ("int32", [])},
                        {"offset_seconds": ("int32", [None]),
                         "scores": ("float32", [None, None]),
                         "feasible": ("bool", [None, None]),
                         "confidence": ("float32", [None]),
                         "p_value": ("float32", [None])}),
}
FRAME_CONTRACT["serving_default"] = FRAME_CONTRACT["encode_examples"]
VIDEO_CONTRACT = {
    "encode_audio": ({"audio": ("float32", [None, 128])}, {"embedding": ("float32", [None, E])}),
    "encode_visual": ({"visual": ("float32", [None, 1024])},
                      {"embedding": ("float32", [None, E])}),
    "encode_examples": ({"examples": ("string", [None])},
                        {"id": ("string", [None]), "audio_embedding": ("float32", [None, E]),
                         "visual_embedding": ("float32", [None, E])}),
    "search_by_audio": ({"audio": ("float32", [None, 128])},
                        {"ids": ("string", [None, SEARCH_K]),
                         "scores": ("float32", [None, SEARCH_K])}),
    "search_by_visual": ({"visual": ("float32", [None, 1024])},
                         {"ids": ("string", [None, SEARCH_K]),
                          "scores": ("float32", [None, SEARCH_K])}),
}
VIDEO_CONTRACT["serving_default"] = VIDEO_CONTRACT["encode_examples"]
CONTRACTS = {"frame": FRAME_CONTRACT, "video": VIDEO_CONTRACT}


def frame_records(frame_data_dir, count=6):
  files = pipeline.list_files(os.path.join(frame_data_dir, "*.tfrecord"))
  recs = [r.numpy() for r in tf.data.TFRecordDataset(files).take(count)]
  return recs


def reader_batch(path, level, count):
  """The reader's dequantized batch of the first ``count`` records of ``path``."""
  ds = pipeline.make_dataset(path, feature_level=level, batch_size=count,
                           max_frames=MAX_FRAMES, dequantize=True, seed=0)
  return {k: v.numpy() for k, v in next(iter(ds)).items()}


# ----------------------------------------------------------------------------
# Signature contract.


@pytest.mark.parametrize("level", ["frame", "video"])
def test_signature_defs_match_the_contract(level, tmp_path_factory):
  exp = helpers.shared_export(tmp_path_factory, level)
  defs = saved_model_info.signature_defs(exp.version_dir)
  got = {name: ({k: (v["dtype"], v["shape"]) for k, v in d["inputs"].items()},
                {k: (v["dtype"], v["shape"]) for k, v in d["outputs"].items()})
         for name, d in defs.items()}
  assert got == CONTRACTS[level]
  # export.json carries the same summary plus the export facts.
  with open(os.path.join(exp.version_dir, "assets.extra", "export.json")) as f:
    info = json.load(f)
  assert info["signatures"] == defs
  assert info["embedding_size"] == E and info["feature_level"] == level
  assert info["version"] == 1 and info["serving_default"] == "encode_examples"
  assert info["search"]["k"] == SEARCH_K and info["search"]["num_items"] == CATALOGUE_SIZE
  model = "temporal" if level == "frame" else "video_level"
  assert info["model"] == model
  assert config_lib.load_config(os.path.join(exp.version_dir, "assets.extra", "config.json")) \
      == tiny_config(level, model=model)


def _parse_saved_model_cli_show(text):
  text = text.split("Concrete Functions")[0]
  out = {}
  for section in text.split("signature_def['")[1:]:
    name = section.split("'")[0]
    ins, _, outs = section.partition("following output(s):")
    parse = lambda part, kind: {
        key: (dtype, shape) for key, dtype, shape in re.findall(
            kind + r"\['([^']+)'\] tensor_info:\s+dtype: (\w+)\s+shape: ([^\n]+)", part)}
    out[name] = (parse(ins, "inputs"), parse(outs, "outputs"))
  return out


def test_saved_model_cli_show_and_run(subprocesses, frame_export):
  show = subprocesses["cli_show"]
  assert show.returncode == 0, show.stderr[-2000:]
  listed = _parse_saved_model_cli_show(show.stdout)
  tf_names = {"float32": "DT_FLOAT", "int32": "DT_INT32", "string": "DT_STRING",
              "bool": "DT_BOOL"}
  for name, (inputs, outputs) in FRAME_CONTRACT.items():
    for got, want in ((listed[name][0], inputs), (listed[name][1], outputs)):
      assert set(got) == set(want), name
      for key, (dtype, shape) in want.items():
        cli_shape = "(" + ", ".join("-1" if d is None else str(d) for d in shape) + ")"
        assert got[key] == (tf_names[dtype], cli_shape), (name, key)

  run = subprocesses["cli_run"]
  assert run.returncode == 0, run.stderr[-2000:]
  want = keras_encode(frame_export, "audio", _CLI_AUDIO, np.array([4, 2], np.int32))
  np.testing.assert_allclose(np.load(run.outdir / "embedding.npy"), want["embedding"],
                             atol=ATOL)
  np.testing.assert_allclose(np.load(run.outdir / "timeline.npy"), want["timeline"],
                             atol=ATOL)


# ----------------------------------------------------------------------------
# A fresh Python process (no project code) serves every signature.

_FRESH_SCRIPT = r"""
import json, sys
import numpy as np
import tensorflow as tf
spec = json.load(open(sys.argv[1]))
inputs = np.load(spec["inputs"])
examples = {name: [r.numpy() for r in tf.data.TFRecordDataset(path)]
            for name, path in spec["examples"].items()}
calls = {}
for full in inputs.files:
  level, sig, case, key = full.split("/")
  calls.setdefault((level, sig, case), {})[key] = tf.constant(inputs[full])
for name, recs in examples.items():
  level, sig, case = name.split("/")
  calls[(level, sig, case)] = {"examples": tf.constant(recs, dtype=tf.string)}
loaded = {level: tf.saved_model.load(path) for level, path in spec["exports"].items()}
out = {}
for (level, sig, case), kwargs in sorted(calls.items()):
  result = loaded[level].signatures[sig](**kwargs)
  for key, value in result.items():
    value = value.numpy()
    if value.dtype == object:
      value = value.astype("S")
    out[f"{level}/{sig}/{case}/{key}"] = value
project = sorted(m for m in sys.modules if m.split(".")[0] == "yt8m_crossmodal")
np.savez(spec["outputs"], **out)
print(json.dumps({"project_modules": project,
                  "signatures": {k: sorted(v.signatures) for k, v in loaded.items()}}))
"""

FRAME_CASES = {  # name: (batch, frames, num_frames)
    "one": (1, 7, [7]),
    "batch_gt_frames": (5, 3, [3, 1, 2, 3, 3]),
    "frames_gt_batch": (2, 12, [12, 5]),
    "padded": (3, 9, [9, 4, 1]),
}


_CLI_AUDIO = np.round(np.random.default_rng(0).uniform(-2, 2, (2, 4, 128)), 3).astype(
    np.float32)


def _run_concurrently(commands, tmp, **kwargs):
  """Runs ``{name: argv}`` at once (TF start-up overlaps); stdout/stderr text."""
  procs = {}
  for name, argv in commands.items():
    out, err = open(tmp / f"{name}.out", "w"), open(tmp / f"{name}.err", "w")
    procs[name] = (subprocess.Popen(argv, stdout=out, stderr=err, **kwargs), out, err)
  results = {}
  for name, (proc, out, err) in procs.items():
    proc.wait(timeout=300)
    out.close()
    err.close()
    results[name] = types.SimpleNamespace(
        returncode=proc.returncode, stdout=(tmp / f"{name}.out").read_text(),
        stderr=(tmp / f"{name}.err").read_text())
  return results


@pytest.fixture(scope="module")
def subprocesses(frame_export, video_export, frame_data_dir, tmp_path_factory):
  """The out-of-process runs, started together.

  ``fresh``: every signature of both exports in a fresh Python process
  without project code; ``cli_show`` / ``cli_run``: saved_model_cli.
  """
  tmp = tmp_path_factory.mktemp("fresh")
  rng = np.random.default_rng(1)
  inputs = {}
  for case, (b, t, n) in FRAME_CASES.items():
    for modality, dim in (("audio", 128), ("visual", 1024)):
      inputs[f"frame/encode_{modality}/{case}/{modality}"] = rng.uniform(
          -2, 2, (b, t, dim)).astype(np.float32)  # Garbage past num_frames too.
      inputs[f"frame/encode_{modality}/{case}/num_frames"] = np.array(n, np.int32)
  for modality, dim in (("audio", 128), ("visual", 1024)):
    inputs[f"frame/search_by_{modality}/q/{modality}"] = rng.uniform(
        -2, 2, (3, 5, dim)).astype(np.float32)
    inputs[f"frame/search_by_{modality}/q/num_frames"] = np.array([5, 2, 4], np.int32)
    for case, b in (("one", 1), ("four", 4)):
      inputs[f"video/encode_{modality}/{case}/{modality}"] = rng.normal(
          size=(b, dim)).astype(np.float32)
    inputs[f"video/search_by_{modality}/q/{modality}"] = rng.normal(
        size=(3, dim)).astype(np.float32)
  # The reader's dequantized features of the records sent to encode_examples.
  frame_file = records.write(tmp / "frame.tfrecord", frame_records(frame_data_dir))
  frame_batch = reader_batch(frame_file, "frame", 6)
  for modality in ("audio", "visual"):
    inputs[f"frame/encode_{modality}/reader/{modality}"] = frame_batch[modality]
    inputs[f"frame/encode_{modality}/reader/num_frames"] = frame_batch["num_frames"]
  video_recs = [records.video_record(f"v{i}", seed=i)[0] for i in range(3)]
  video_recs.append(records.video_record("v3", id_key="video_id", seed=3)[0])
  video_file = records.write(tmp / "video.tfrecord", video_recs)
  video_batch = reader_batch(video_file, "video", 4)
  for modality in ("audio", "visual"):
    inputs[f"video/encode_{modality}/reader/{modality}"] = video_batch[modality]
  np.savez(tmp / "inputs.npz", **inputs)
  spec = {"exports": {"frame": frame_export.version_dir, "video": video_export.version_dir},
          "inputs": str(tmp / "inputs.npz"), "outputs": str(tmp / "outputs.npz"),
          "examples": {"frame/encode_examples/reader": frame_file,
                       "frame/serving_default/reader": frame_file,
                       "video/encode_examples/reader": video_file,
                       "video/serving_default/reader": video_file}}
  (tmp / "spec.json").write_text(json.dumps(spec))
  (tmp / "serve.py").write_text(_FRESH_SCRIPT)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  env.pop("PYTHONPATH", None)
  cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
  (tmp / "cli_out").mkdir()
  exprs = f"audio={json.dumps(_CLI_AUDIO.tolist())};num_frames=[4, 2]"
  # The console tools' normal runs, as a user starts them (nothing set).
  tool = lambda name, *args: ["env", "-u", "TF_CPP_MIN_LOG_LEVEL", "-u", "YT8M_VERBOSE",
                              sys.executable, "-m", f"yt8m_crossmodal.tools.{name}", *args]
  results = _run_concurrently({
      "fresh": [sys.executable, str(tmp / "serve.py"), str(tmp / "spec.json")],
      "cli_show": [cli, "show", "--dir", frame_export.version_dir, "--all"],
      "cli_run": [cli, "run", "--dir", frame_export.version_dir, "--tag_set", "serve",
                  "--signature_def", "encode_audio", "--input_exprs", exprs,
                  "--outdir", str(tmp / "cli_out")],
      "yt8m-export": tool("export", f"--model_dir={frame_export.model_dir}",
                          f"--export_dir={tmp / 'tool_saved'}"),
      "yt8m-embed": tool("embed", f"--export_dir={frame_export.export_dir}",
                         f"--data={frame_data_dir}/*.tfrecord", f"--output={tmp / 'tool_index'}",
                         "--timelines"),
      "yt8m-synth": tool("synth", f"--output_dir={tmp / 'tool_synth'}", "--num_videos=4",
                         "--num_shards=1", "--min_frames=4", "--max_frames=6"),
  }, tmp, cwd=str(tmp), env=env)
  results["cli_run"].outdir = tmp / "cli_out"
  proc = results["fresh"]
  assert proc.returncode == 0, proc.stderr[-3000:]
  report = json.loads(proc.stdout.strip().splitlines()[-1])
  outputs = dict(np.load(tmp / "outputs.npz"))
  results["fresh"] = (inputs, outputs, report, {"frame": frame_batch, "video": video_batch})
  return results


@pytest.mark.parametrize("tool", ["yt8m-export", "yt8m-embed", "yt8m-synth"])
def test_a_tools_normal_run_prints_no_library_line(subprocesses, tool):
  """No line of TensorFlow or absl (signature_serialization, Assets written...)."""
  proc = subprocesses[tool]
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert helpers.library_lines(proc.stderr) == [], proc.stderr[-3000:]
  assert json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def fresh(subprocesses):
  """(inputs, outputs, report, reader batches) of the fresh-process run."""
  return subprocesses["fresh"]


def test_fresh_process_loads_without_project_code(fresh):
  _, _, report, _ = fresh
  assert report["project_modules"] == []
  assert report["signatures"]["frame"] == sorted(FRAME_CONTRACT)
  assert report["signatures"]["video"] == sorted(VIDEO_CONTRACT)


def test_frame_encoders_match_keras(fresh, frame_export):
  inputs, outputs, _, _ = fresh
  for case in list(FRAME_CASES) + ["reader"]:
    for modality in ("audio", "visual"):
      prefix = f"frame/encode_{modality}/{case}/"
      x, n = inputs[prefix + modality], inputs[prefix + "num_frames"]
      want = keras_encode(frame_export, modality, x, n)
      emb, timeline = outputs[prefix + "embedding"], outputs[prefix + "timeline"]
      assert emb.shape == (x.shape[0], E) and timeline.shape == x.shape[:2] + (E,)
      np.testing.assert_allclose(emb, want["embedding"], atol=ATOL, err_msg=prefix)
      np.testing.assert_allclose(timeline, want["timeline"], atol=ATOL, err_msg=prefix)
      valid = np.arange(x.shape[1])[None, :] < n[:, None]
      assert np.all(timeline[~valid] == 0), prefix  # Zeros past num_frames.
      np.testing.assert_allclose(np.linalg.norm(timeline[valid], axis=-1), 1, atol=1e-5)
      np.testing.assert_allclose(np.linalg.norm(emb, axis=-1), 1, atol=1e-5)


def test_video_encoders_match_keras(fresh, video_export):
  inputs, outputs, _, _ = fresh
  for case in ("one", "four", "reader"):
    for modality in ("audio", "visual"):
      prefix = f"video/encode_{modality}/{case}/"
      want = keras_encode(video_export, modality, inputs[prefix + modality])
      assert set(k.split("/")[-1] for k in outputs if k.startswith(prefix)) == {"embedding"}
      np.testing.assert_allclose(outputs[prefix + "embedding"], want["embedding"], atol=ATOL)


@pytest.mark.parametrize("level", ["frame", "video"])
@pytest.mark.parametrize("signature", ["encode_examples", "serving_default"])
def test_encode_examples_equals_encoders_on_reader_features(fresh, level, signature):
  _, outputs, _, batches = fresh
  batch = batches[level]
  prefix = f"{level}/{signature}/reader/"
  ids = [i.decode() for i in outputs[prefix + "id"]]
  assert ids == [i.decode() for i in batch["id"]]
  for modality in ("audio", "visual"):
    np.testing.assert_allclose(outputs[prefix + f"{modality}_embedding"],
                               outputs[f"{level}/encode_{modality}/reader/embedding"],
                               atol=1e-6)
    if level == "frame":
      timeline = outputs[prefix + f"{modality}_timeline"]
      want = outputs[f"frame/encode_{modality}/reader/timeline"]
      assert timeline.shape == want.shape
      assert timeline.shape[1] == min(MAX_FRAMES, int(batch["num_frames"].max()))
      np.testing.assert_allclose(timeline, want, atol=1e-6)


@pytest.mark.parametrize("level", ["frame", "video"])
def test_search_signatures_equal_numpy_exact_search(fresh, tmp_path_factory, level):
  inputs, outputs, _, _ = fresh
  exp = helpers.shared_export(tmp_path_factory, level)
  for modality, target in (("audio", "visual"), ("visual", "audio")):
    prefix = f"{level}/search_by_{modality}/q/"
    x = inputs[prefix + modality]
    n = inputs.get(prefix + "num_frames")
    emb = keras_encode(exp, modality, x, n)["embedding"]
    want_ids, want_scores = numpy_top_k(emb, exp.catalogue[target], exp.catalogue_ids, SEARCH_K)
    got_ids = outputs[prefix + "ids"].astype(str)
    np.testing.assert_array_equal(got_ids, want_ids)
    np.testing.assert_allclose(outputs[prefix + "scores"], want_scores, atol=ATOL)
    # Also what retrieval.exact_search returns for the same query embeddings.
    scores, idx = retrieval.exact_search(emb, exp.catalogue[target], SEARCH_K)
    np.testing.assert_array_equal(got_ids, exp.catalogue_ids[idx])


# ----------------------------------------------------------------------------
# TF Serving request formats (gRPC PredictRequest, REST JSON).


def _check_inputs(sig, inputs):
  """Asserts keys/dtypes/shapes against the signature; returns tf inputs."""
  _, specs = sig.structured_input_signature
  assert set(inputs) == set(specs)
  feed = {}
  for key, value in inputs.items():
    spec = specs[key]
    assert value.dtype == spec.dtype, key
    assert spec.shape.is_compatible_with(value.shape), (key, value.shape, spec.shape)
    feed[key] = value
  return feed


def _grpc_roundtrip(name, inputs):
  from tensorflow_serving.apis import predict_pb2
  request = predict_pb2.PredictRequest()
  request.model_spec.name = "yt8m"
  request.model_spec.signature_name = name
  for key, value in inputs.items():
    request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
  received = predict_pb2.PredictRequest.FromString(request.SerializeToString())
  assert received.model_spec.signature_name == name
  return {k: tf.constant(tf.make_ndarray(v)) for k, v in received.inputs.items()}


def _rest_roundtrip(name, inputs, specs):
  def encode(value):
    if value.dtype == object:
      return [{"b64": base64.b64encode(v).decode("ascii")} for v in value.tolist()]
    return value.tolist()
  body = json.dumps({"signature_name": name,
                     "inputs": {k: encode(v) for k, v in inputs.items()}})
  parsed = json.loads(body)
  assert parsed["signature_name"] == name
  out = {}
  for key, value in parsed["inputs"].items():
    dtype = specs[key].dtype
    if dtype == tf.string:
      out[key] = tf.constant([base64.b64decode(v["b64"]) for v in value], tf.string)
    else:
      out[key] = tf.constant(np.asarray(value, dtype.as_numpy_dtype))
  return out


def _request_inputs(level, name, recs):
  rng = np.random.default_rng(3)
  if name in ("encode_examples", "serving_default"):
    return {"examples": np.array(recs, dtype=object)}
  if name == "estimate_offset":
    return {"audio": rng.uniform(-2, 2, (2, 4, 128)).astype(np.float32),
            "audio_num_frames": np.array([4, 3], np.int32),
            "visual": rng.uniform(-2, 2, (2, 12, 1024)).astype(np.float32),
            "visual_num_frames": np.array([12, 9], np.int32),
            "start": np.array([4, 2], np.int32), "max_offset": np.array(3, np.int32)}
  modality = name.split("_")[-1]
  dim = 128 if modality == "audio" else 1024
  if level == "frame":
    return {modality: rng.uniform(-2, 2, (2, 6, dim)).astype(np.float32),
            "num_frames": np.array([6, 3], np.int32)}
  return {modality: rng.normal(size=(2, dim)).astype(np.float32)}


@pytest.mark.parametrize("level", ["frame", "video"])
def test_predict_request_and_rest_body_per_signature(level, tmp_path_factory, frame_data_dir):
  exp = helpers.shared_export(tmp_path_factory, level)
  loaded = tf.saved_model.load(exp.version_dir)
  if level == "frame":
    recs = frame_records(frame_data_dir, 3)
  else:
    recs = [records.video_record(f"v{i}", seed=i)[0] for i in range(2)]
  for name in CONTRACTS[level]:
    sig = loaded.signatures[name]
    _, specs = sig.structured_input_signature
    inputs = _request_inputs(level, name, recs)
    direct = sig(**{k: tf.constant(v) for k, v in inputs.items()})
    for feed in (_grpc_roundtrip(name, inputs), _rest_roundtrip(name, inputs, specs)):
      result = sig(**_check_inputs(sig, feed))
      assert set(result) == set(CONTRACTS[level][name][1])
      for key, value in result.items():
        if value.dtype in (tf.string, tf.bool, tf.int32):
          np.testing.assert_array_equal(value.numpy(), direct[key].numpy())
        else:
          np.testing.assert_allclose(value.numpy(), direct[key].numpy(), atol=1e-6)


def test_bad_record_fails_the_request_with_a_clear_message(frame_export):
  loaded = tf.saved_model.load(frame_export.version_dir)
  good, _, _ = records.frame_record("ok", frames=4)
  bad, _, _ = records.frame_record("broken", frames=4, rgb_width=1000)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"Bad YT-8M record in request at record index 1 "
                     r"\(video id \W{1,2}broken\W{1,2}\): rgb bytes per frame"):
    loaded.signatures["encode_examples"](examples=tf.constant([good, bad]))
  # A payload that is not a protobuf at all is named the same way.
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"Bad YT-8M record in request at record index 1 .*not a valid "
                     r"SequenceExample protobuf"):
    loaded.signatures["encode_examples"](examples=tf.constant([good, b"\xff\xd8 jpeg" * 9]))
  # Labels out of the model's vocabulary do not matter for encoding.
  odd_labels, _, _ = records.frame_record("labels", frames=4, labels=(99999,))
  out = loaded.signatures["encode_examples"](examples=tf.constant([good, odd_labels]))
  assert out["audio_embedding"].shape == (2, E)


# ----------------------------------------------------------------------------
# Versions, atomic writes, GPU portability, errors.


def test_versions_atomic_write_and_config(tmp_path):
  model_dir = str(tmp_path / "model")
  make_model_dir(model_dir, "video")
  export_dir = str(tmp_path / "saved" / "tiny")
  cfg = export_job.ExportConfig(model_dir=model_dir, export_dir=export_dir)
  assert export_job.export_model_dir(cfg)["version"] == 1  # The first one.
  assert export_job.export_model_dir(export_job.ExportConfig(model_dir=model_dir, export_dir=export_dir,
                                        version=5))["version"] == 5
  with pytest.raises(UsageError, match="version 5 already exists.*refusing to overwrite"):
    export_job.export_model_dir(export_job.ExportConfig(model_dir=model_dir, export_dir=export_dir, version=5))
  info = export_job.export_model_dir(cfg)  # Next free: after the highest.
  assert info["version"] == 6 and info["path"] == os.path.join(export_dir, "6")
  assert sorted(os.listdir(export_dir)) == ["1", "5", "6"]  # No temp folder left.
  assert sorted(os.listdir(os.path.join(export_dir, "6", "assets.extra"))) == [
      "config.json", "export.json"]
  assert config_lib.load_config(os.path.join(export_dir, "6", "assets.extra",
                                             "config.json")) == tiny_config("video", model="video_level")
  assert loading.resolve_version_dir(export_dir) == (os.path.join(export_dir, "6"), 6)
  assert loading.resolve_version_dir(os.path.join(export_dir, "5"))[1] == 5

  # A failure after writing leaves neither a version nor a temp folder.
  original = saved_model_info.graph_op_types
  saved_model_info.graph_op_types = lambda path: {"CudnnRNNV3"}
  try:
    with pytest.raises(RuntimeError, match="GPU-only ops"):
      export_job.export_model_dir(cfg)
  finally:
    saved_model_info.graph_op_types = original
  assert sorted(os.listdir(export_dir)) == ["1", "5", "6"]


def test_export_builds_lstms_without_cudnn_and_holds_no_cudnn_ops(frame_export):
  # The trained encoders' LSTMs pick cuDNN at trace time when a GPU is visible
  # ("auto"); the export rebuilds them with use_cudnn=False, which never does,
  # whatever the machine, and carries the trained weights over.
  assert all(layer.use_cudnn == "auto" for layer in frame_export.audio.layers
             if isinstance(layer, keras.layers.LSTM))
  config, model = exporter.load_model_dir(frame_export.model_dir)
  audio, visual, count = exporter.portable_encoders(config, model)
  lstms = [layer for enc in (audio, visual) for layer in enc.layers
           if isinstance(layer, keras.layers.LSTM)]
  assert count == len(lstms) == 4  # 2 strides x 2 encoders.
  assert all(layer.use_cudnn is False for layer in lstms)
  x = np.random.default_rng(0).normal(size=(2, 9, 128)).astype(np.float32)
  n = np.array([9, 5], np.int32)
  np.testing.assert_allclose(audio([x, n])["timeline"], frame_export.audio([x, n])["timeline"],
                             atol=1e-6)
  # The written graph holds the generic LSTM loop only (and serves on this
  # CPU-only machine: see the fresh-process tests).
  ops = saved_model_info.graph_op_types(frame_export.version_dir)
  assert not [op for op in ops if "Cudnn" in op]
  assert "While" in ops
  assert frame_export.info["lstm_layers_without_cudnn"] == 4


def test_export_errors(tmp_path, frame_export):
  with pytest.raises(UsageError, match="no trained model"):
    export_job.export_model_dir(export_job.ExportConfig(model_dir=str(tmp_path / "nothing"),
                                   export_dir=str(tmp_path / "out")))
  with pytest.raises(UsageError, match="--export_dir is required"):
    export_job.export_model_dir(export_job.ExportConfig(model_dir=frame_export.model_dir))
  random_catalogue(tmp_path / "wide", width=E + 1)
  with pytest.raises(UsageError, match=f"{E + 1}-d embeddings but the model's queries are {E}-d"):
    export_job.export_model_dir(export_job.ExportConfig(model_dir=frame_export.model_dir,
                                   export_dir=str(tmp_path / "out"),
                                   search_catalogue=str(tmp_path / "wide")))
  empty = empty_catalogue(tmp_path / "empty")
  with pytest.raises(UsageError, match="(?i)empty catalogue"):
    export_job.export_model_dir(export_job.ExportConfig(model_dir=frame_export.model_dir,
                                   export_dir=str(tmp_path / "out"),
                                   search_catalogue=str(empty)))
  with pytest.raises(UsageError, match="Index folder .* does not exist"):
    export_job.export_model_dir(export_job.ExportConfig(model_dir=frame_export.model_dir,
                                   export_dir=str(tmp_path / "out"),
                                   search_catalogue=str(tmp_path / "missing")))
  assert not os.path.exists(tmp_path / "out") or os.listdir(tmp_path / "out") == []


def test_loaded_export_errors(tmp_path, video_export):
  with pytest.raises(UsageError, match="no export at"):
    loading.load_export(str(tmp_path / "missing"))
  (tmp_path / "junk").mkdir()
  (tmp_path / "junk" / "notes.txt").write_text("hi")
  with pytest.raises(UsageError, match="is not a SavedModel"):
    loading.load_export(str(tmp_path / "junk"))
  exp = loading.load_export(video_export.export_dir)
  assert exp.version == 1 and exp.feature_level == "video" and exp.embedding_size == E
  with pytest.raises(UsageError, match="video-level model.*no 'timeline' output"):
    exp.require_timelines("for --timelines")
  with pytest.raises(UsageError, match="has no signature 'nope'"):
    exp.signature("nope")


# ----------------------------------------------------------------------------
# Issue 9: nothing silently wrong, nothing left behind.


def test_signatures_reject_non_finite_features_and_bad_num_frames(frame_export, video_export):
  sigs = tf.saved_model.load(frame_export.version_dir).signatures
  audio = np.zeros((2, 5, 128), np.float32)
  ok = sigs["encode_audio"](audio=tf.constant(audio), num_frames=tf.constant([5, 3]))
  assert np.all(np.isfinite(ok["embedding"].numpy()))
  nan = audio.copy()
  nan[1, 2, 7] = np.nan
  for name in ("encode_audio", "search_by_audio"):
    with pytest.raises(tf.errors.InvalidArgumentError, match="audio holds NaN or Inf"):
      sigs[name](audio=tf.constant(nan), num_frames=tf.constant([5, 3]))
  for bad in ([5, 0], [5, -2]):
    with pytest.raises(tf.errors.InvalidArgumentError, match="num_frames must be >= 1"):
      sigs["encode_audio"](audio=tf.constant(audio), num_frames=tf.constant(bad))
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="num_frames must have one value per video"):
    sigs["encode_audio"](audio=tf.constant(audio), num_frames=tf.constant([5, 3, 2]))
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"num_frames must be <= the seconds given \(audio holds.*5"):
    sigs["encode_audio"](audio=tf.constant(audio), num_frames=tf.constant([6, 3]))
  with pytest.raises(tf.errors.InvalidArgumentError, match="no video: audio holds an empty"):
    sigs["encode_audio"](audio=tf.constant(audio[:0]), num_frames=tf.constant([], tf.int32))
  video = tf.saved_model.load(video_export.version_dir).signatures
  visual = np.zeros((2, 1024), np.float32)
  visual[0, 0] = np.inf
  with pytest.raises(tf.errors.InvalidArgumentError, match="visual holds NaN or Inf"):
    video["encode_visual"](visual=tf.constant(visual))
  with pytest.raises(tf.errors.InvalidArgumentError, match="no video: visual holds an empty"):
    video["encode_visual"](visual=tf.constant(visual[:0]))


def test_a_truncated_model_keras_is_named_as_damaged(tmp_path, frame_export):
  import shutil
  model_dir = tmp_path / "model"
  shutil.copytree(frame_export.model_dir, model_dir)
  keras_file = model_dir / "model.keras"
  keras_file.write_bytes(keras_file.read_bytes()[:1000])
  with pytest.raises(UsageError, match="model.keras' is not a .keras archive \\(truncated"):
    export_job.export_model_dir(export_job.ExportConfig(model_dir=str(model_dir),
                                                    export_dir=str(tmp_path / "out")))


def test_export_refuses_non_finite_weights(tmp_path):
  model_dir = str(tmp_path / "model")
  model = make_model_dir(model_dir, "video")
  layer = model.get_layer("audio_encoder").weights[0]
  layer.assign(np.full(layer.shape, np.nan, np.float32))
  model.save(os.path.join(model_dir, "model.keras"))
  export_dir = tmp_path / "saved"
  with pytest.raises(UsageError, match="holds NaN or Inf .*refusing to export"):
    export_job.export_model_dir(export_job.ExportConfig(model_dir=model_dir,
                                                    export_dir=str(export_dir)))
  assert not export_dir.exists() or os.listdir(export_dir) == []


def test_export_takes_the_next_version_when_another_took_its_own(tmp_path, monkeypatch):
  model_dir = str(tmp_path / "model")
  make_model_dir(model_dir, "video")
  export_dir = tmp_path / "saved"
  original = saved_model_info.signature_defs

  def racing(path):  # Another export finishes version 1 while this one writes.
    (export_dir / "1").mkdir(exist_ok=True)
    (export_dir / "1" / "saved_model.pb").write_text("other")
    return original(path)

  monkeypatch.setattr(saved_model_info, "signature_defs", racing)
  cfg = export_job.ExportConfig(model_dir=model_dir, export_dir=str(export_dir))
  info = export_job.export_model_dir(cfg)
  assert info["version"] == 2 and info["path"] == str(export_dir / "2")
  assert json.loads((export_dir / "2" / "assets.extra" / "export.json").read_text())[
      "version"] == 2
  assert (export_dir / "1" / "saved_model.pb").read_text() == "other"
  # An explicit version is never moved: the race is an error.
  monkeypatch.setattr(saved_model_info, "signature_defs", lambda path: (
      (export_dir / "7").mkdir(), original(path))[1])
  with pytest.raises(UsageError, match="version 7 appeared"):
    export_job.export_model_dir(export_job.ExportConfig(model_dir=model_dir,
                                                    export_dir=str(export_dir), version=7))
  assert sorted(os.listdir(export_dir)) == ["1", "2", "7"]


def test_export_removes_temp_folders_of_killed_exports(tmp_path):
  import time
  from yt8m_crossmodal import io_utils
  model_dir = str(tmp_path / "model")
  make_model_dir(model_dir, "video")
  export_dir = tmp_path / "saved"
  export_dir.mkdir()
  host = io_utils.host_pid_tag().rpartition("_")[0]
  dead = export_dir / f".tmp-export-1-{host}_999999999-abcd1234"
  old = export_dir / ".tmp-export-1-0a1b2c3d"  # No owner to check: by age.
  live = export_dir / f".tmp-export-1-{io_utils.host_pid_tag()}-abcd1234"
  for folder in (dead, old, live):
    folder.mkdir()
    (folder / "saved_model.pb").write_text("half")
  stamp = time.time() - exporter.STALE_TMP_SECONDS - 60
  os.utime(old, (stamp, stamp))
  export_job.export_model_dir(export_job.ExportConfig(model_dir=model_dir,
                                                  export_dir=str(export_dir)))
  assert sorted(os.listdir(export_dir)) == sorted(["1", live.name])


def test_unwritable_export_dir_is_a_usage_error(tmp_path, frame_export):
  (tmp_path / "file").write_text("x")
  with pytest.raises(UsageError, match="is a file, not a folder"):
    export_job.export_model_dir(export_job.ExportConfig(model_dir=frame_export.model_dir,
                                                    export_dir=str(tmp_path / "file")))
  locked = tmp_path / "locked"
  locked.mkdir()
  with helpers.read_only(locked):
    with pytest.raises(UsageError, match="not writable|cannot create"):
      export_job.export_model_dir(export_job.ExportConfig(model_dir=frame_export.model_dir,
                                                      export_dir=str(locked)))
    with pytest.raises(UsageError, match="cannot create"):
      export_job.export_model_dir(export_job.ExportConfig(
          model_dir=frame_export.model_dir, export_dir=str(locked / "sub")))


def test_a_full_disk_during_an_export_is_one_line_and_leaves_nothing(tmp_path, frame_export,
                                                                    monkeypatch):
  import keras
  from yt8m_crossmodal.tools import runner

  def full_disk(self, path, *args, **kw):
    os.makedirs(os.path.join(path, "variables"))
    raise tf.errors.ResourceExhaustedError(
        None, None, f"{path}/variables/variables.data-00000-of-00001; No space left on device")

  # The class the backend actually makes (it overrides write_out).
  monkeypatch.setattr(type(keras.export.ExportArchive()), "write_out", full_disk)
  export_dir = tmp_path / "saved"
  with pytest.raises(UsageError) as info:
    export_job.export_model_dir(export_job.ExportConfig(model_dir=frame_export.model_dir,
                                                    export_dir=str(export_dir)))
  assert runner._is_user_error(info.value)
  assert runner.error_message(info.value) == (  # The version folder, not TF's temporary file.
      f"cannot write '{export_dir}/1': No space left on device")
  assert os.listdir(export_dir) == []  # No half-written version, no temp folder.
