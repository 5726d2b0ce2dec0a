"""Schema-driven fuzzing: requests generated from the API's own OpenAPI document, valid and
invalid, never make it answer 5xx, and every answer is one that document promises."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from fracture.serve import create_app
from fracture.trained.predictor import load_predictor
from tests.test_serve import settings as serve_settings
from tests.test_serve import tiny_run

# Hypothesis strategies per operation, driven here: schemathesis' own pytest plugin
# (@schema.parametrize) does not run under pytest 9.
EXAMPLES = 25
CHECKS = {
    # Random bytes are schema-valid files but no images: refusing them (415) is right.
    "positive_data_acceptance": {"enabled": False},
    # Invalid requests may also be refused for their size (413: too many files) first.
    "negative_data_rejection": {"expected-statuses": [400, 413, 415, 422]},
}


@pytest.fixture(scope="module")
def api_schema(tiny_root, tmp_path_factory):
    predictor = load_predictor(tiny_run(tiny_root, tmp_path_factory))
    app = create_app(predictor, serve_settings("max_upload_mb=1", "max_files=4"))
    config = SchemathesisConfig.from_dict({"checks": CHECKS})
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=config)


def operations(schema) -> dict:
    found = (result.ok() for result in schema.get_all_operations())
    return {f"{op.method.upper()} {op.path}": op for op in found}


def test_the_schema_lists_every_endpoint(api_schema):
    assert set(operations(api_schema)) == {
        "POST /api/v1/predict",
        "POST /api/v1/preview",
        "GET /api/v1/model",
        "GET /api/v1/health",
    }


@pytest.mark.parametrize(
    ("endpoint", "mode"),
    [
        ("POST /api/v1/predict", GenerationMode.POSITIVE),
        ("POST /api/v1/predict", GenerationMode.NEGATIVE),  # schema-invalid requests
        ("POST /api/v1/preview", GenerationMode.POSITIVE),
        ("GET /api/v1/model", GenerationMode.POSITIVE),
        ("GET /api/v1/health", GenerationMode.POSITIVE),
    ],
)
def test_generated_requests_never_make_the_api_fail(api_schema, endpoint, mode):
    operation = operations(api_schema)[endpoint]
    statuses = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,  # each run explores afresh; nothing is stored in the checkout
        suppress_health_check=list(HealthCheck),
    )
    def check(case):
        statuses.append(case.call_and_validate().status_code)

    check()
    assert statuses and all(status < 500 for status in statuses)
