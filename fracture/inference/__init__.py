"""Using trained models: probability models and ensembles, prediction, explanations, export."""
