"""Dataset audit: exact and near-duplicate radiographs and train/val/test leakage."""
