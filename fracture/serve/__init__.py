"""``fracture-serve``: a web page and a JSON API that predict with one loaded model."""

from fracture.serve.app import create_app
from fracture.serve.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]
