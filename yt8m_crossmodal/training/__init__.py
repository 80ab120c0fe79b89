"""Training: :func:`.trainer.train` over ``model.fit``, with its optimizer,
callbacks and tf.distribute plumbing."""
