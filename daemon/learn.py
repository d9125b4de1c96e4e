"""A small softmax regression for plugins that learn a decision from labelled examples (the kind
of screen, whether a note holds to-dos): features are named floats, a label is a string.

Fitted as scikit-learn's ``LogisticRegression(C=...)`` fits it (an L2 penalty on standardised
features), by gradient descent in numpy: a few hundred examples and a few dozen features need no
more, and numpy is already a dependency of OCR. Only fitting imports it; using a fitted model
(``probabilities``) is plain Python, so the task pays nothing at import.
"""

from __future__ import annotations

import json
import math
from importlib import resources
from typing import Any

STEPS = 4000


def fit(data: list[tuple[dict[str, float], str]], c: float, **about: Any) -> dict[str, Any]:
    """The model of ``data`` ((features, label) pairs) as JSON-ready lists; ``about`` is kept
    in it (what it was fitted on)."""
    import numpy as np

    names = sorted(data[0][0])
    labels = sorted({label for _, label in data})
    x = np.array([[f.get(n, 0.0) for n in names] for f, _ in data], float)
    mean, scale = x.mean(0), x.std(0)
    scale[scale == 0] = 1.0
    x = (x - mean) / scale
    y = np.zeros((len(data), len(labels)))
    y[np.arange(len(data)), [labels.index(label) for _, label in data]] = 1
    w, b = np.zeros((len(names), len(labels))), np.zeros(len(labels))
    penalty = 1 / (c * len(data))        # sklearn's C * sum(loss) + |w|^2 / 2, per sample
    rate = 0.5
    for _ in range(STEPS):
        z = x @ w + b
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        w -= rate * (x.T @ (p - y) / len(data) + penalty * w)
        b -= rate * (p - y).mean(0)
    return {"features": names, "kinds": labels, "mean": mean.round(6).tolist(),
            "scale": scale.round(6).tolist(), "weights": w.T.round(6).tolist(),
            "bias": b.round(6).tolist(), "C": c, **about}


def probabilities(feats: dict[str, float], model: dict[str, Any]) -> dict[str, float]:
    """Each label's probability under ``model`` (as ``fit`` made it); a feature the model does
    not know is ignored, one it knows and ``feats`` lacks counts as 0."""
    x = [(feats.get(name, 0.0) - mean) / scale
         for name, mean, scale in zip(model["features"], model["mean"], model["scale"])]
    scores = [bias + sum(w * v for w, v in zip(weights, x))
              for weights, bias in zip(model["weights"], model["bias"])]
    top = max(scores)
    exp = [math.exp(s - top) for s in scores]
    return {label: e / sum(exp) for label, e in zip(model["kinds"], exp)}


def packaged(package: str, name: str) -> dict[str, Any] | None:
    """A fitted model shipped as ``package``'s data file ``name``, or None when it is not there
    (a plugin author's fork, a deleted file): the caller then decides without it."""
    try:
        text = resources.files(package).joinpath(name).read_text("utf-8")
    except (FileNotFoundError, OSError):
        return None
    return json.loads(text)
