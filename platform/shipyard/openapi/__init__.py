"""OpenAPI documents: each service generation's, from its routes' docstrings, and the
control plane's own.

- ``docstrings``: a docstring's summary, description and YAML (``---``);
- ``swagger2``: flasgger-style (Swagger 2.0) operations upgraded to OpenAPI 3, and
  ``required: true`` inside properties lifted to their object;
- ``references``: ``$ref``s that resolve nowhere, replaced so the rest is kept;
- ``service_components``: the shared components a service ships
  (``openapi-components.yaml``);
- ``rules``: Flask URL rules as OpenAPI paths and path parameters;
- ``flasgger_forms``: a route's YAML from flasgger's other forms (``swag_from``, ``file:``);
- ``document``: the document of a list of routes, each bad docstring a warning;
- ``assembly``: the document put together by apispec (its ``APISpec`` and components);
- ``validation``: openapi-spec-validator, one line per problem;
- ``model_service``: the generated predict and health operations of a model service;
- ``generations``: the documentation step of a build;
- ``publication``: a stored document's servers and security schemes, when it is served;
- ``control_api``, ``control_schemas``: the control plane's API, from its views' docstrings;
- ``swagger_ui``: the Swagger UI page and its bundled assets.

Used by the api (the control plane's document, the docs pages) and the supervisor (each
generation's document, made when its build ends). It never imports user code: a
generation's routes are listed by its runner, in the service's own environment.
"""

from shipyard.openapi.control_api import control_plane_document
from shipyard.openapi.document import BuiltDocument, build_document
from shipyard.openapi.generations import GenerationFacts, document_generation
from shipyard.openapi.publication import gateway_url, published
from shipyard.openapi.validation import OPENAPI_VERSION, first_problem

__all__ = [
    "OPENAPI_VERSION",
    "BuiltDocument",
    "GenerationFacts",
    "build_document",
    "control_plane_document",
    "document_generation",
    "first_problem",
    "gateway_url",
    "published",
]
