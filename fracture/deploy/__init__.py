"""Deployable models: ``fracture-export``'s command line, and int8 models that are written only
after they decide as the fp32 model does on the validation split. It stands on inference (the
verified export, the ONNX backend) and on evaluation (the training run's data, the metrics)."""
