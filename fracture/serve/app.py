"""The FastAPI application: the page at ``/``, the JSON API under ``/api/v1``.

All the page's URLs are relative, so it works unchanged behind a reverse proxy that serves
it under a path prefix (uvicorn's ``root_path``).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.formparsers import MultiPartParser

from fracture import __version__
from fracture.serve import api
from fracture.serve.admission import UploadAdmission
from fracture.serve.body_limit import BodyLimit
from fracture.serve.http_errors import install_error_handlers
from fracture.serve.panel import cam_grid, stored_card
from fracture.serve.pool import InferencePool
from fracture.serve.runner import ModelRunner
from fracture.serve.settings import ServeSettings
from fracture.trained.predictor import Predictor

STATIC_DIR = Path(__file__).with_name("static")
API_PREFIX = "/api/v1"
# The page loads nothing from elsewhere; overlays arrive as data: URLs, previews as blob: URLs.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; "
        "frame-ancestors 'none'; base-uri 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
}
_DESCRIPTION = (
    "P(fractured), the decision and a Grad-CAM overlay for bone X-rays. "
    "No authentication; not a medical device."
)


def create_app(predictor: Predictor, settings: ServeSettings) -> FastAPI:
    """The web application serving one loaded model.

    Args:
        predictor: The model (moved to ``settings.device`` here, once), or an export
            directory's :class:`~fracture.inference.exported.ExportedModel` for
            ``backend=onnx``.
        settings: Request limits, inference threads and queue, model options.

    Returns:
        A FastAPI app; its inference threads live as long as its lifespan (the server's run).
    """
    app = FastAPI(
        title="fracture",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=_inference_threads(settings),
        # Swagger UI and ReDoc load their scripts from a CDN; the schema is at /openapi.json.
        docs_url=None,
        redoc_url=None,
        form_limits={"max_files": settings.max_files},
    )
    # Starlette spools upload parts over 1 MiB to a temporary file; X-rays are patient data,
    # so parts up to the upload limit stay in memory (a process-wide Starlette setting).
    MultiPartParser.spool_max_size = max(MultiPartParser.spool_max_size, settings.max_upload_bytes)
    app.state.runner = ModelRunner(predictor, settings)
    # An export directory has neither a checkpoint to read a card from nor a PyTorch model.
    exported = predictor.model is None
    app.state.card = None if exported else stored_card(predictor)
    app.state.cam_grid = None if exported else cam_grid(predictor)
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_upload_bytes, timeout_s=settings.body_timeout_s
    )
    # Added last, so it runs first: an upload over the limit is refused before anything else.
    app.add_middleware(UploadAdmission, max_uploads=settings.max_uploads)
    install_error_handlers(app, settings.max_files)
    app.include_router(api.router, prefix=API_PREFIX)
    app.add_api_route("/", _page, include_in_schema=False)
    app.add_api_route("/favicon.ico", _favicon, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


async def _page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers=_PAGE_HEADERS)


async def _favicon() -> FileResponse:
    # Browsers ask for /favicon.ico whatever the page links; SVG is what they get.
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")


def _inference_threads(settings: ServeSettings):
    # Per lifespan, not per app: test clients may start and stop one app several times.
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = InferencePool(settings.threads, settings.queue_size)
        app.state.runner.batcher.start()
        try:
            yield
        finally:
            app.state.runner.stop_decoders()  # a stuck decode must not hold up the exit
            app.state.runner.batcher.stop()  # requests still waiting for the model get 503
            app.state.pool.shutdown()

    return lifespan
