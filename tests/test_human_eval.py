"""yt8m-human-eval: MTurk results in, human precision, nDCG, kappa, correlation out.

The worked example (2 candidates per HIT, ratings 0..2):

  HIT H1, a2v, query q1: candidate c1 (score 0.9) rated 2, 2, 2;
                         candidate c2 (score 0.5) rated 0, 0, 1.
  HIT H2, v2a, query q2: candidate d1 (score 0.7) rated 0, 0, 0;
                         candidate d2 (score 0.6) rated 2, 1, 2.

Fleiss' kappa over the 4 candidates: per-item agreement P_i = 1, 1/3, 1, 1/3,
mean P = 2/3; category shares 5/12, 2/12, 5/12, chance P_e = 54/144 = 3/8;
kappa = (2/3 - 3/8) / (1 - 3/8) = 7/15. Per HIT (2 items each): P = 2/3,
P_e = 14/36, kappa = 5/11.
Mean ratings: H1 2, 1/3 (relevant at >= 1: yes, no) -> precision@1 1,
precision@2 1/2, nDCG@2 1. H2 0, 5/3 -> precision@1 0, precision@2 1/2,
nDCG@2 = (5/3 / log2 3) / (5/3) = 1 / log2 3.
Score vs mean rating over all 4: score ranks 4, 1, 3, 2; rating ranks 4, 2, 1, 3;
sum d^2 = 6, Spearman = 1 - 6 * 6 / (4 * 15) = 0.4.
"""

import csv
import json
import math
import os
import subprocess
import sys

import pytest
import tensorflow as tf

import helpers
from yt8m_crossmodal.errors import UsageError
from yt8m_crossmodal.evaluation import human

META = ["HITId", "HITTypeId", "Title", "Reward", "CreationTime", "MaxAssignments",
        "AssignmentId", "WorkerId", "AssignmentStatus", "AcceptTime", "SubmitTime",
        "WorkTimeInSeconds", "LifetimeApprovalRate"]
INPUTS = ["query_id", "query_modality", "candidate_modality", "candidate_1_id",
          "candidate_1_rank", "candidate_2_id", "candidate_2_rank", "candidate_1_score",
          "candidate_2_score", "sync_picture_start", "sync_audio_start", "sync_seconds",
          "sync_estimated_offset", "sync_true_offset"]
HIT_INPUTS = {
    "H1": ["q1", "audio", "visual", "c1", "1", "c2", "2", "0.9", "0.5", "7", "7", "20", "1", "1"],
    "H2": ["q2", "visual", "audio", "d1", "1", "d2", "2", "0.7", "0.6", "", "", "", "", ""],
}
# (HIT, worker, status, relevance_1, relevance_2, sync)
WORKED = [
    ("H1", "W1", "Approved", "2", "0", "in_sync"),
    ("H1", "W2", "Submitted", "2", "0", "in_sync"),
    ("H1", "W3", "Approved", "2", "1", "audio_late"),
    ("H2", "W1", "Approved", "0", "2", ""),
    ("H2", "W2", "Approved", "0", "1", ""),
    ("H2", "W3", "Approved", "0", "2", ""),
]
REJECTED = ("H1", "W4", "Rejected", "0", "2", "audio_early")   # Would change every figure.
BAD_VALUE = ("H2", "W5", "Approved", "0", "5", "")             # 5 is off the scale.


def _write(path, assignments, form="plain"):
  """A results file in MTurk's download layout; answers in one of its 3 forms."""
  answer_columns = {"plain": ["Answer.relevance_1", "Answer.relevance_2", "Answer.sync"],
                    "boolean": [f"Answer.relevance_{j}.{v}" for j in (1, 2) for v in "012"]
                               + [f"Answer.sync.{v}" for v in human.SYNC_VALUES],
                    "json": ["Answer.taskAnswers"]}[form]
  with open(path, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(META + [f"Input.{c}" for c in INPUTS] + answer_columns + ["Approve", "Reject"])
    for n, (hit, worker, status, r1, r2, sync) in enumerate(assignments):
      meta = [hit, "T1", "Does it fit?", "$0.10", "Thu Nov 26 2026", "3", f"A{n}", worker,
              status, "", "", "60", "100% (5/5)"]
      if form == "plain":
        answers = [r1, r2, sync]
      elif form == "boolean":
        # Off the scale here: two boxes ticked.
        answers = [str(bool(r) and v in {"5": "12"}.get(r, r)).lower()
                   for r in (r1, r2) for v in "012"]
        answers += [str(sync == v).lower() for v in human.SYNC_VALUES]
      else:
        entry = {"relevance_1": {v: r1 == v for v in "012"}, "relevance_2": r2}
        if sync:
          entry["sync"] = sync
        answers = [json.dumps([entry])]
      writer.writerow(meta + HIT_INPUTS[hit] + answers + ["", ""])
  return str(path)


def _summary(path):
  return human.summarize(human.read_results([path]))


@pytest.mark.parametrize("form", ["plain", "boolean", "json"])
def test_worked_example(tmp_path, form):
  path = _write(tmp_path / "Batch_1_batch_results.csv", WORKED + [REJECTED, BAD_VALUE], form)
  s = _summary(path)
  assert (s["assignments"], s["rejected"], s["hits"], s["workers"]) == (6, 1, 2, 3)
  assert s["all/kappa"] == pytest.approx(7 / 15) and s["all/kappa_items"] == 4
  assert s["all/agreement"] == pytest.approx(2 / 3)
  by_hit = {q["hit"]: q for q in s["queries"]}
  assert by_hit["H1"]["kappa"] == pytest.approx(5 / 11)
  assert by_hit["H2"]["kappa"] == pytest.approx(5 / 11)
  assert by_hit["H1"]["mean_ratings"] == pytest.approx([2, 1 / 3])
  assert s["a2v/kappa"] == pytest.approx(5 / 11) and s["v2a/queries"] == 1
  assert s["a2v/precision@1"] == 1 and s["a2v/precision@2"] == 0.5
  assert s["v2a/precision@1"] == 0 and s["v2a/precision@2"] == 0.5
  assert s["a2v/ndcg@2"] == pytest.approx(1.0)
  assert s["v2a/ndcg@2"] == pytest.approx(1 / math.log2(3))
  assert s["all/precision@1"] == 0.5
  assert s["all/ndcg@2"] == pytest.approx((1 + 1 / math.log2(3)) / 2)
  assert s["all/spearman"] == pytest.approx(0.4) and s["all/score_pairs"] == 4
  assert s["a2v/spearman"] is None  # 2 candidates: too few for a correlation.
  # Sync (H1 only): answers in_sync, in_sync, audio_late; estimate = truth = 1 s.
  # P = 2 * 1 / (3 * 2) = 1/3, shares 2/3 and 1/3, P_e = 5/9: kappa = -1/2.
  assert s["sync/rated_tasks"] == 1 and s["sync/human_in_sync"] == 1.0
  assert s["sync/human_matches_truth"] == 1.0 and s["sync/model_exact"] == 1.0
  assert s["sync/kappa"] == pytest.approx(-0.5)
  assert by_hit["H1"]["sync_majority"] == "in_sync"
  # The malformed row is named, with its line in the file (header = line 1).
  assert [(m["line"], m["hit"], m["worker"]) for m in s["malformed"]] == [(9, "H2", "W5")]
  bad = {"boolean": "'1,2'"}.get(form, "'5'")
  assert s["malformed"][0]["reason"] == f"Answer.relevance_2 = {bad} is not 0, 1 or 2"


def test_missing_answers_and_several_files(tmp_path):
  # W4 rates only candidate 1 of H2 (0): d1 gets 4 ratings, d2 keeps 3.
  # d1 counts (4, 0, 0): P = 1; items P = 1, 1/3, 1, 1/3 as before; shares 6/13,
  # 2/13, 5/13: P_e = (36 + 4 + 25) / 169 = 65/169; kappa = (2/3 - 65/169) / (104/169)
  # = (338 - 195) / 312 = 143/312 = 11/24.
  first = _write(tmp_path / "Batch_1_batch_results.csv", WORKED[:3])
  second = _write(tmp_path / "Batch_2_batch_results.csv",
                  WORKED[3:] + [("H2", "W4", "Approved", "0", "", "")])
  s = human.summarize(human.read_results(human.expand(str(tmp_path / "Batch_*.csv"))))
  assert s["files"] == [first, second] and s["assignments"] == 7
  assert s["missing_answers"] == 1 and not s["malformed"]
  assert s["all/kappa"] == pytest.approx(11 / 24)
  h2 = next(q for q in s["queries"] if q["hit"] == "H2")
  assert h2["ratings"] == [[0, 0, 0, 0], [2, 1, 2]] and h2["workers"] == 4
  # A candidate nobody rated drops out (condensed list): H2 is d2 alone.
  only = _write(tmp_path / "one.csv", [("H2", "W1", "Approved", "", "2", "")])
  s = _summary(only)
  assert s["v2a/precision@1"] == 1.0 and s["v2a/ndcg@2"] == 1.0
  assert s["v2a/kappa"] is None and s["missing_answers"] == 1


def test_malformed_rows_named_and_bad_files(tmp_path):
  rows = WORKED[:2] + [("H1", "W1", "Approved", "2", "2", "in_sync"),   # W1 twice on H1.
                       ("H1", "W9", "Approved", "2", "0", "sometimes")]
  s = _summary(_write(tmp_path / "r.csv", rows))
  assert s["assignments"] == 2
  reasons = [(m["line"], m["reason"]) for m in s["malformed"]]
  assert reasons == [(4, "a second assignment of worker W1 on HIT H1"),
                     (5, "Answer.sync = 'sometimes' is not one of in_sync, audio_early, "
                         "audio_late, cant_tell")]
  (tmp_path / "batch.csv").write_text("query_id,candidate_1_id\nq1,c1\n")
  with pytest.raises(UsageError, match="not an MTurk results file, no column.s. HITId"):
    human.read_results([str(tmp_path / "batch.csv")])
  with pytest.raises(UsageError, match="matches no file"):
    human.expand(str(tmp_path / "none*.csv"))


def test_fleiss_kappa_textbook():
  # Fleiss (1971) / Wikipedia's example: 10 items, 14 raters, 5 categories: 0.210.
  table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0],
           [2, 2, 8, 1, 1], [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2],
           [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
  items = [[c for c, n in enumerate(row) for _ in range(n)] for row in table]
  kappa, observed, used = human.fleiss_kappa(items, range(5))
  assert kappa == pytest.approx(0.20993, abs=1e-5) and used == 10
  assert human.fleiss_kappa([[1, 1], [1, 1]], range(3))[0] is None  # one category: undefined
  assert human.fleiss_kappa([[1], []], range(3)) == (None, None, 0)


def test_cli(tmp_path):
  path = _write(tmp_path / "Batch_1_batch_results.csv", WORKED + [REJECTED, BAD_VALUE])
  env = helpers.tool_env()
  proc = subprocess.run(
      [sys.executable, "-m", "yt8m_crossmodal.tools.human_eval", f"--results={path}",
       f"--output={tmp_path / 'out' / 'human.json'}", f"--tensorboard_dir={tmp_path / 'tb'}"],
      capture_output=True, text=True, env=env)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert helpers.library_lines(proc.stderr) == [], proc.stderr[-3000:]
  lines = proc.stdout.strip().splitlines()
  result = json.loads(lines[-1])
  assert result["all/kappa"] == pytest.approx(7 / 15)
  assert json.loads((tmp_path / "out" / "human.json").read_text()) == result
  assert lines[0] == ("6 assignment(s) used from 2 HIT(s) by 3 worker(s); 1 rejected, "
                      "1 malformed row(s) left out, 0 missing answer(s)")
  assert any(l.startswith("a2v: 1 queries; precision@1 1.000, precision@2 0.500, ndcg@1 1.000, "
                          "ndcg@2 1.000; Fleiss' kappa 0.455") for l in lines)
  assert any(l.startswith(f"malformed: {path}:9 HIT H2 worker W5:") for l in lines)
  events = [os.path.join(tmp_path / "tb", f) for f in os.listdir(tmp_path / "tb")]
  values = {v.tag: v for e in tf.compat.v1.train.summary_iterator(events[0])
            for v in e.summary.value}
  assert "human_eval/all/kappa" in values
  text = tf.make_ndarray(values["human_eval/report"].tensor).item().decode()
  assert "Fleiss' kappa 0.467" in text
  proc = subprocess.run([sys.executable, "-m", "yt8m_crossmodal.tools.human_eval",
                         f"--results={tmp_path / 'nothing*.csv'}"],
                        capture_output=True, text=True, env=env)
  assert proc.returncode == 2 and proc.stderr.strip().startswith("error: --results matches no")
  proc = subprocess.run([sys.executable, "-m", "yt8m_crossmodal.tools.human_eval", "--help"],
                        capture_output=True, text=True, env=env)
  assert proc.returncode == 0 and proc.stdout.startswith("usage: yt8m-human-eval [flags]")
  assert "--relevant_rating: A candidate is relevant" in proc.stdout


def test_round_trip_from_the_batch_that_yt8m_evaluate_writes(tmp_path):
  """mturk_batch.csv -> (MTurk: Input.* columns + answers) -> yt8m-human-eval."""
  from types import SimpleNamespace
  import numpy as np
  from yt8m_crossmodal.evaluation import mturk_layout, reports
  embedded = SimpleNamespace(ids=["v0", "v1", "v2"])
  tops = {"a2v": ([0, 1], np.array([[0.9, 0.4], [0.8, 0.3]]), np.array([[0, 2], [1, 0]])),
          "v2a": ([0, 1], np.array([[0.7, 0.2], [0.6, 0.5]]), np.array([[2, 0], [1, 2]]))}
  # Tasks (video, t0, true d): v0 estimated right (2 = 2), v1 one second high (0 vs -1).
  details = (np.array([[0, 5, 2], [1, 6, -1]]), np.array([2, 0]), None)
  sync = reports.sync_rows(details, 20)
  assert sync == {0: [7, 7, 20, 2, 2], 1: [6, 5, 20, 0, -1]}
  batch = tmp_path / "mturk_batch.csv"
  assert reports.write_mturk_csv(embedded, tops, 2, str(batch), sync) == 4
  with open(batch, newline="") as f:
    rows = list(csv.reader(f))
  layout = mturk_layout.layout_html(2, sync=True)
  assert mturk_layout.placeholders(layout) <= set(rows[0])
  # Pictures from 6 s with the sound from 5 s: the sound comes too late.
  answers = {"v0": ("2", "0", "in_sync"), "v1": ("2", "1", "audio_late")}
  results = tmp_path / "Batch_7_batch_results.csv"
  with open(results, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["HITId", "WorkerId", "AssignmentStatus"] + [f"Input.{c}" for c in rows[0]]
                    + ["Answer.relevance_1", "Answer.relevance_2", "Answer.sync"])
    for n, row in enumerate(rows[1:]):
      r1, r2, s = answers[row[0]]
      for worker in ("W1", "W2"):
        writer.writerow([f"H{n}", worker, "Approved"] + row
                        + [r1, r2, s if row[1] == "audio" else ""])
  s = human.summarize(human.read_results([str(results)]))
  assert s["assignments"] == 8 and not s["malformed"] and s["missing_answers"] == 0
  h0 = next(q for q in s["queries"] if q["hit"] == "H0")
  assert (h0["query_id"], h0["direction"], h0["candidates"]) == ("v0", "a2v", ["v0", "v2"])
  assert s["a2v/precision@1"] == 1.0 and s["a2v/precision@2"] == 0.75
  assert s["sync/rated_tasks"] == 2 and s["sync/model_exact"] == 0.5
  assert s["sync/human_matches_truth"] == 1.0 and s["sync/human_in_sync"] == 0.5
  # Scores 0.9 0.4 0.8 0.3 0.7 0.2 0.6 0.5 (ranks 8 3 7 2 6 1 5 4) against ratings
  # 2 0 2 1 2 0 2 1 (tied ranks 6.5 1.5 6.5 3.5 6.5 1.5 6.5 3.5): deviations from 4.5
  # give sum dx dy = 34, sum dx^2 = 42, sum dy^2 = 36.
  assert s["all/score_pairs"] == 8
  assert s["all/spearman"] == pytest.approx(34 / math.sqrt(42 * 36))


def test_output_into_a_read_only_folder_is_one_line(tmp_path):
  import helpers
  path = _write(tmp_path / "Batch_1_batch_results.csv", WORKED)
  locked = tmp_path / "locked"
  locked.mkdir()
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  with helpers.read_only(locked):
    proc = subprocess.run(
        [sys.executable, "-m", "yt8m_crossmodal.tools.human_eval", f"--results={path}",
         f"--output={locked / 'human.json'}"], capture_output=True, text=True, env=env)
  assert proc.returncode == 2, proc.stderr[-3000:]
  assert proc.stderr.count("\n") == 1 and "is not writable" in proc.stderr, proc.stderr
  assert proc.stderr.startswith("error: --output's folder") and not os.listdir(locked)
