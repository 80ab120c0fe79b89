#!/usr/bin/env bash
# End-to-end demo on a fresh machine: .venv with the base package (no dev extra),
# sample data, validation, training, export for TF Serving, evaluation through the
# export, a catalogue search with temporal re-ranking and segment localization, and a
# storyboard (pictures for a soundtrack).
# Everything is written under demo_output/ (git-ignored) and saved_models/demo/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
BIN="$ROOT/.venv/bin"
OUT="$ROOT/demo_output"
EXPORT="$ROOT/saved_models/demo"
rm -rf "$OUT"
mkdir -p "$OUT"
step() { printf '\n== %s\n' "$*"; }

summary() {  # The last stdout line of a tool is JSON: print the fields asked for.
  "$BIN/python" -c 'import json, sys
d = json.loads(sys.stdin.read().strip().splitlines()[-1])
print("  " + ", ".join(f"{k}: {len(d[k]) if isinstance(d[k], list) else d[k]}" for k in sys.argv[1:]))' "$@"
}

step "1/8 sample data (yt8m-synth): 1500 training and 300 validation videos, 40-60 s"
"$BIN/yt8m-synth" --noprogress --output_dir="$OUT/data/train" --prefix=train --num_videos=1500 \
  --num_shards=4 --min_frames=40 --max_frames=60 --seed=1 | summary files videos frames_total
"$BIN/yt8m-synth" --noprogress --output_dir="$OUT/data/validate" --prefix=validate \
  --num_videos=300 --num_shards=2 --min_frames=40 --max_frames=60 --seed=2 \
  | summary files videos frames_total

step "2/8 validate the records (yt8m-validate)"
"$BIN/yt8m-validate" --data="$OUT/data/train/*.tfrecord" > "$OUT/validate.txt"
head -n 2 "$OUT/validate.txt"

step "3/8 train (yt8m-train): multi-stride LSTMs (1, 5, 15 s) for the clip, a per-second timeline"
"$BIN/yt8m-train" --train_data="$OUT/data/train/*.tfrecord" \
  --validation_data="$OUT/data/validate/*.tfrecord" --model_dir="$OUT/model" \
  --epochs=10 --batch_size=64 --learning_rate=2e-3 --warmup_steps=30 \
  --lstm_layers=1 --lstm_units=64 --projection_units=64 --embedding_size=64 \
  --window_strides=1,5,15 > "$OUT/train.log" 2>&1 \
  || { tail -n 20 "$OUT/train.log"; exit 1; }
"$BIN/python" - "$OUT/model/training_log.csv" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
cols = [("epoch", "epoch"), ("loss", "loss"), ("val_loss", "val loss"),
        ("val_a2v_recall@1", "val a2v R@1"), ("val_v2a_recall@1", "val v2a R@1"),
        ("val_sync_exact", "val sync exact")]
print("  " + "".join(f"{title:>16}" for _, title in cols))
for r in rows:
  print("  " + "".join(f"{int(r[k]):>16}" if k == "epoch" else f"{float(r[k]):>16.3f}"
                       for k, _ in cols))
EOF

step "4/8 export a SavedModel for TF Serving (yt8m-export)"
rm -rf "$EXPORT"
"$BIN/yt8m-export" --model_dir="$OUT/model" --export_dir="$EXPORT" | sed '$d'

step "5/8 evaluate through the exported signatures (yt8m-evaluate)"
"$BIN/yt8m-evaluate" --noprogress --export_dir="$EXPORT" --data="$OUT/data/validate/*.tfrecord" \
  --output_dir="$OUT/eval" --pool_sizes=256 --max_offset=5 --excerpt_seconds=20 \
  | tail -n 1 > "$OUT/eval_metrics.json"
"$BIN/python" - "$OUT/eval_metrics.json" <<'EOF'
import json, sys
m = json.loads(open(sys.argv[1]).read())
keys = [k for k in sorted(m) if any(s in k for s in (
    "recall@1", "recall@10", "median_rank", "sync/exact", "sync/within_1s", "rerank"))]
for k in keys:
  v = m[k]
  print(f"  {k:<40} {v:.3f}" if isinstance(v, float) else f"  {k:<40} {v}")
EOF

step "6/8 catalogue search (yt8m-embed, yt8m-search): soundtrack -> videos, re-ranked by timelines"
"$BIN/yt8m-embed" --noprogress --export_dir="$EXPORT" \
  --data="$OUT/data/validate/*.tfrecord" --output="$OUT/index" --timelines --ann=hnsw | sed '$d'
"$BIN/yt8m-search" --index="$OUT/index" --export_dir="$EXPORT" \
  --query_data="$OUT/data/validate/validate0000.tfrecord" --query_modality=audio \
  --k=5 --rerank=20 --ann=hnsw > "$OUT/search.jsonl"
"$BIN/python" - "$OUT/search.jsonl" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
hits = sum(r["query_id"] == r["results"][0]["id"] for r in rows)
print(f"  {len(rows)} audio queries (HNSW index, re-ranked by timelines); "
      f"the query's own video ranked first for {hits}")
for r in rows[:3]:
  top = ", ".join(f"{x['id']} ({x['score']:.2f})" for x in r["results"][:3])
  print(f"  {r['query_id']}: {top}")
EOF

step "7/8 segment localization: where in the video does a 10-second audio clip fit?"
"$BIN/yt8m-search" --index="$OUT/index" --export_dir="$EXPORT" \
  --query_data="$OUT/data/validate/validate0001.tfrecord" --query_modality=audio \
  --k=3 --query_start=12 --query_seconds=10 > "$OUT/localize.jsonl"
"$BIN/python" - "$OUT/localize.jsonl" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
own = [r for r in rows if r["results"][0]["id"] == r["query_id"]]
exact = sum(r["results"][0]["best_start_second"] == 12 for r in own)
print(f"  {len(rows)} clips of seconds 12-22; own video first for {len(own)}, "
      f"of which located at second 12 exactly: {exact}")
EOF

step "8/8 pictures for a soundtrack (yt8m-pictures): a storyboard, video stretches for every 20 s of sound"
"$BIN/yt8m-pictures" --index="$OUT/index" --export_dir="$EXPORT" \
  --audio_data="$OUT/data/validate/validate0001.tfrecord" --max_records=1 \
  --output="$OUT/storyboard.html"
"$BIN/yt8m-pictures" --index="$OUT/index" --export_dir="$EXPORT" \
  --audio_data="$OUT/data/validate/validate0001.tfrecord" --max_records=1 --format=table

version=$(ls "$EXPORT" | sort -n | tail -n 1)
cat <<EOF

Done in $((SECONDS / 60)) min $((SECONDS % 60)) s (set-up included).
  SavedModel:   $EXPORT/$version   (signatures: serving_default, encode_audio, encode_visual, encode_examples, estimate_offset)
  Serve it:     docker run -p 8501:8501 -p 8500:8500 \\
                  --mount type=bind,source=$EXPORT,target=/models/demo \\
                  -e MODEL_NAME=demo tensorflow/serving
  Inspect it:   $BIN/saved_model_cli show --dir $EXPORT/$version --all
  TensorBoard:  $BIN/tensorboard --logdir $OUT/model/tensorboard
  Evaluation:   $OUT/eval (metrics.json, plots, mturk_batch.csv, index.html)
  Storyboard:   $OUT/storyboard.html
EOF
