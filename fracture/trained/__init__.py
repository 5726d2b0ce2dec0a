"""The trained-model layer: what a checkpoint holds and how it is validated and loaded, and a
predictor (one model or an ensemble) built from it. Evaluation, inference, serving and the
comparison stand on it; it imports nothing above the model."""
