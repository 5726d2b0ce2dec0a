"""Using trained models: prediction, explanations and export (the models and ensembles
themselves are ``fracture.trained``)."""
