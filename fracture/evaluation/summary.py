"""The printed summary of an evaluation: the threshold and headline metrics with intervals."""

HEADLINE = ("acc", "balanced_acc", "recall", "specificity", "auroc", "auprc")


def metrics_summary(metrics: dict, split: str) -> str:
    """The threshold and the headline metrics with their intervals; "-" where undefined."""
    threshold = metrics["threshold"]
    lines = [f"{split}: threshold {threshold['value']:.3f} ({threshold['policy']})"]
    for name in HEADLINE:
        low, high = metrics.get(f"{split}/{name}_ci") or (None, None)
        interval = f" [{low:.3f}, {high:.3f}]" if low is not None and high is not None else ""
        value = metrics.get(f"{split}/{name}")
        lines.append(f"  {name}: {'-' if value is None else f'{value:.3f}'}{interval}")
    if metrics.get(f"{split}/ci_unit"):
        lines.append(f"  intervals resample by {metrics[f'{split}/ci_unit']}")
    return "\n".join(lines)
