#!/bin/bash
# A tiny yt8m-train run (frame level, all terms on) and a video-level one, by the code of 5be019b.
set -e
# V: the bin folder of a venv; PYTHONPATH: a checkout of 5be019b.
V=${V:-.venv/bin}
D=$1
rm -rf $D/work && mkdir -p $D/work
cd $D/work
$V/yt8m-synth --output_dir=data --prefix=train --num_videos=16 --num_shards=1 --min_frames=10 --max_frames=14 --seed=3
$V/yt8m-synth --output_dir=video --prefix=train --num_videos=16 --num_shards=1 --feature_level=video --seed=4
$V/yt8m-train --train_data='data/train*.tfrecord' --model_dir=frame_run --epochs=1 \
  --lstm_units=4 --projection_units=4 --embedding_size=4 --window_strides=1,5 --lstm_layers=1 \
  --batch_size=8 --shuffle_buffer=8 --warmup_steps=1 --learning_rate=2e-3 --max_frames=14 \
  --temporal_weight=0.5 --sync_weight=0.2 --sync_loss_window=4 --sync_loss_offsets=2 \
  --timeline_nce_seconds=6 \
  --visual_to_audio_weight=0.8 --projector_samples=0 --num_classes=3862
$V/yt8m-train --train_data='video/train*.tfrecord' --feature_level=video --model_dir=video_run --epochs=1 \
  --embedding_size=8 --video_hidden_units=8 --video_linear_dims=4 --video_towers=2 \
  --batch_size=8 --shuffle_buffer=8 --warmup_steps=1 --learning_rate=2e-3 \
  --clip_shared_label_weight=0.5 --projector_samples=0
