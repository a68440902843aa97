"""Docstrings for the control plane's views that do not carry their own YAML yet.

Each entry is written exactly as the view's docstring would be (summary, description,
``---``, the operation's YAML) and is used only while the view's own docstring has no
``---`` line: moving an entry into its view's docstring changes nothing in the document.
``tests/unit/test_openapi_control.py`` fails for a view documented in neither place.
"""

from __future__ import annotations

__all__ = ["DOCSTRINGS"]

DOCSTRINGS: dict[str, str] = {
    "health.healthz": """Whether the control plane is up and its store answers.
        ---
        tags: [platform]
        responses:
          "200":
            description: The control plane is up.
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    status: {type: string, enum: [ok]}
          default: {$ref: '#/components/responses/Error'}
        """,
    "catalog.list_environments": """The environment profiles services can run on.
        ---
        tags: [platform]
        responses:
          "200":
            description: Every profile, and the default one.
            content:
              application/json:
                schema:
                  type: object
                  required: [default, environments]
                  properties:
                    default: {type: string, example: small}
                    environments:
                      type: array
                      items: {$ref: '#/components/schemas/Environment'}
          default: {$ref: '#/components/responses/Error'}
        """,
    "services.list_services": """Every service, by name.
        ---
        tags: [services]
        responses:
          "200":
            description: The services.
            content:
              application/json:
                schema:
                  type: object
                  required: [services]
                  properties:
                    services:
                      type: array
                      items: {$ref: '#/components/schemas/Service'}
          default: {$ref: '#/components/responses/Error'}
        """,
    "services.create_service": """Create a service.

        From a template (a JSON body), or from an upload (multipart: ``service``, the same
        JSON as a string, and ``archive``, a zip or tar.gz of its files). The service starts
        disabled and undeployed.
        ---
        tags: [services]
        requestBody:
          required: true
          content:
            application/json:
              schema: {$ref: '#/components/schemas/ServiceSpec'}
            multipart/form-data:
              schema:
                type: object
                required: [service, archive]
                properties:
                  service: {type: string, description: "the service's JSON (ServiceSpec)"}
                  archive: {type: string, format: binary}
        responses:
          "201":
            description: The new service.
            content:
              application/json:
                schema: {$ref: '#/components/schemas/Service'}
          "400": {$ref: '#/components/responses/BadRequest'}
          "409": {$ref: '#/components/responses/Conflict'}
          "413": {$ref: '#/components/responses/TooLarge'}
          default: {$ref: '#/components/responses/Error'}
        """,
    "services.get_service": """One service, what serves it now and each instance.
        ---
        tags: [services]
        responses:
          "200":
            description: The service with its live and target generations and instances.
            content:
              application/json:
                schema: {$ref: '#/components/schemas/ServiceStatus'}
          "404": {$ref: '#/components/responses/NotFound'}
          default: {$ref: '#/components/responses/Error'}
        """,
    "services.update_service": """Change a service's name, description, environment,
        packages or access level.
        ---
        tags: [services]
        requestBody:
          required: true
          content:
            application/json:
              schema: {$ref: '#/components/schemas/ServiceChanges'}
        responses:
          "200":
            description: The changed service.
            content:
              application/json:
                schema: {$ref: '#/components/schemas/Service'}
          "400": {$ref: '#/components/responses/BadRequest'}
          "404": {$ref: '#/components/responses/NotFound'}
          "409": {$ref: '#/components/responses/Conflict'}
          default: {$ref: '#/components/responses/Error'}
        """,
    "services.delete_service": """Delete an undeployed service with its files and
        generations.
        ---
        tags: [services]
        responses:
          "204": {description: Deleted.}
          "404": {$ref: '#/components/responses/NotFound'}
          "409": {$ref: '#/components/responses/Conflict'}
          default: {$ref: '#/components/responses/Error'}
        """,
    "services.enable_service": """Switch a service on: it may then be deployed.
        ---
        tags: [services]
        responses:
          "200":
            description: The service.
            content:
              application/json:
                schema: {$ref: '#/components/schemas/Service'}
          "404": {$ref: '#/components/responses/NotFound'}
          default: {$ref: '#/components/responses/Error'}
        """,
    "services.disable_service": """Switch a service off: the gateway refuses its calls.
        ---
        tags: [services]
        responses:
          "200":
            description: The service.
            content:
              application/json:
                schema: {$ref: '#/components/schemas/Service'}
          "404": {$ref: '#/components/responses/NotFound'}
          default: {$ref: '#/components/responses/Error'}
        """,
    "services.list_files": """A service's files, with their sizes and hashes.
        ---
        tags: [services]
        responses:
          "200":
            description: The files.
            content:
              application/json:
                schema: {$ref: '#/components/schemas/FileList'}
          "404": {$ref: '#/components/responses/NotFound'}
          default: {$ref: '#/components/responses/Error'}
        """,
    "services.replace_files": """Replace every file with those of a zip or tar.gz archive.
        ---
        tags: [services]
        requestBody:
          required: true
          content:
            application/octet-stream:
              schema: {type: string, format: binary}
            application/zip:
              schema: {type: string, format: binary}
        responses:
          "200":
            description: The new files.
            content:
              application/json:
                schema: {$ref: '#/components/schemas/FileList'}
          "400": {$ref: '#/components/responses/BadRequest'}
          "404": {$ref: '#/components/responses/NotFound'}
          "413": {$ref: '#/components/responses/TooLarge'}
          default: {$ref: '#/components/responses/Error'}
        """,
    "services.download_archive": """Every file of a service, as a zip.
        ---
        tags: [services]
        responses:
          "200":
            description: The zip archive.
            content:
              application/zip:
                schema: {type: string, format: binary}
          "404": {$ref: '#/components/responses/NotFound'}
          default: {$ref: '#/components/responses/Error'}
        """,
    "services.read_file": """One file of a service.
        ---
        tags: [services]
        responses:
          "200":
            description: The file's bytes.
            content:
              application/octet-stream:
                schema: {type: string, format: binary}
          "400": {$ref: '#/components/responses/BadRequest'}
          "404": {$ref: '#/components/responses/NotFound'}
          default: {$ref: '#/components/responses/Error'}
        """,
    "services.write_file": """Create or overwrite one file of a service.
        ---
        tags: [services]
        requestBody:
          required: true
          content:
            application/octet-stream:
              schema: {type: string, format: binary}
        responses:
          "200":
            description: The file written.
            content:
              application/json:
                schema: {$ref: '#/components/schemas/ServiceFile'}
          "400": {$ref: '#/components/responses/BadRequest'}
          "404": {$ref: '#/components/responses/NotFound'}
          "413": {$ref: '#/components/responses/TooLarge'}
          default: {$ref: '#/components/responses/Error'}
        """,
    "services.delete_file": """Delete one file of a service.
        ---
        tags: [services]
        responses:
          "204": {description: Deleted.}
          "400": {$ref: '#/components/responses/BadRequest'}
          "404": {$ref: '#/components/responses/NotFound'}
          default: {$ref: '#/components/responses/Error'}
        """,
    "deployments.deploy": """Snapshot the service's files as a new generation, build it
        and switch to it once it is healthy.
        ---
        tags: [deployments]
        responses:
          "202":
            description: The new generation; its build has started.
            content:
              application/json:
                schema: {$ref: '#/components/schemas/Generation'}
          "404": {$ref: '#/components/responses/NotFound'}
          "409": {$ref: '#/components/responses/Conflict'}
          default: {$ref: '#/components/responses/Error'}
        """,
    "deployments.undeploy": """Stop serving a service; its generations are kept.
        ---
        tags: [deployments]
        responses:
          "202":
            description: The service; its instances are stopping.
            content:
              application/json:
                schema: {$ref: '#/components/schemas/Service'}
          "404": {$ref: '#/components/responses/NotFound'}
          default: {$ref: '#/components/responses/Error'}
        """,
    "deployments.list_builds": """Every generation of a service and the state of its build.
        ---
        tags: [deployments]
        responses:
          "200":
            description: The generations, oldest first.
            content:
              application/json:
                schema:
                  type: object
                  required: [builds]
                  properties:
                    builds:
                      type: array
                      items: {$ref: '#/components/schemas/Generation'}
          "404": {$ref: '#/components/responses/NotFound'}
          default: {$ref: '#/components/responses/Error'}
        """,
    "deployments.get_build": """One generation of a service, by build number.
        ---
        tags: [deployments]
        responses:
          "200":
            description: The generation.
            content:
              application/json:
                schema: {$ref: '#/components/schemas/Generation'}
          "404": {$ref: '#/components/responses/NotFound'}
          default: {$ref: '#/components/responses/Error'}
        """,
    "deployments.build_log": """A build's log as text.

        With ``follow=true`` the answer streams until the build ends. Lines that start with
        ``warning:`` are documentation problems that did not fail the build.
        ---
        tags: [deployments]
        parameters:
          - name: follow
            in: query
            schema: {type: boolean, default: false}
        responses:
          "200":
            description: The log, one line per line.
            content:
              text/plain:
                schema: {type: string}
          "404": {$ref: '#/components/responses/NotFound'}
          default: {$ref: '#/components/responses/Error'}
        """,
    "deployments.runtime_logs": """What a service's instances printed, newest last.
        ---
        tags: [deployments]
        parameters:
          - name: tail
            in: query
            description: Lines per instance.
            schema: {type: integer, minimum: 0, default: 200}
        responses:
          "200":
            description: Each instance's output under a header line.
            content:
              text/plain:
                schema: {type: string}
          "400": {$ref: '#/components/responses/BadRequest'}
          "404": {$ref: '#/components/responses/NotFound'}
          default: {$ref: '#/components/responses/Error'}
        """,
    "models.upload_model": """Upload a trained model as a new version.

        Multipart: ``model``, the joblib or pickle file (the control plane never opens it),
        and ``metadata``, JSON with the name, features, target, problem type, packages,
        description and baseline records.
        ---
        tags: [models]
        requestBody:
          required: true
          content:
            multipart/form-data:
              schema:
                type: object
                required: [model, metadata]
                properties:
                  model: {type: string, format: binary}
                  metadata: {type: string, description: the model's metadata as JSON}
        responses:
          "201":
            description: The new version.
            content:
              application/json:
                schema: {$ref: '#/components/schemas/ModelVersion'}
          "400": {$ref: '#/components/responses/BadRequest'}
          "413": {$ref: '#/components/responses/TooLarge'}
          default: {$ref: '#/components/responses/Error'}
        """,
    "models.list_models": """Every model, with its newest version and version count.
        ---
        tags: [models]
        responses:
          "200":
            description: The models.
            content:
              application/json:
                schema:
                  type: object
                  required: [models]
                  properties:
                    models:
                      type: array
                      items:
                        type: object
                        properties:
                          name: {type: string}
                          latest_version: {type: integer}
                          versions: {type: integer}
          default: {$ref: '#/components/responses/Error'}
        """,
    "models.list_versions": """Every version of a model.
        ---
        tags: [models]
        responses:
          "200":
            description: The versions, oldest first.
            content:
              application/json:
                schema:
                  type: object
                  required: [versions]
                  properties:
                    versions:
                      type: array
                      items: {$ref: '#/components/schemas/ModelVersion'}
          "404": {$ref: '#/components/responses/NotFound'}
          default: {$ref: '#/components/responses/Error'}
        """,
    "models.get_version": """One version of a model.
        ---
        tags: [models]
        responses:
          "200":
            description: The version.
            content:
              application/json:
                schema: {$ref: '#/components/schemas/ModelVersion'}
          "404": {$ref: '#/components/responses/NotFound'}
          default: {$ref: '#/components/responses/Error'}
        """,
    "models.get_baseline": """The baseline records stored with a model version.
        ---
        tags: [models]
        responses:
          "200":
            description: The records.
            content:
              application/json:
                schema:
                  type: object
                  required: [records]
                  properties:
                    records: {type: array, items: {type: object}}
          "404": {$ref: '#/components/responses/NotFound'}
          default: {$ref: '#/components/responses/Error'}
        """,
    "models.deploy_model": """Create or update the model service of a version (default: the
        newest) and deploy it.
        ---
        tags: [models]
        requestBody:
          content:
            application/json:
              schema:
                type: object
                properties:
                  version: {type: integer}
                  service: {type: string, description: "the service's name (default: the model's)"}
                  environment: {type: string}
        responses:
          "202":
            description: The service's name and its new generation.
            content:
              application/json:
                schema:
                  type: object
                  required: [service, generation]
                  properties:
                    service: {type: string}
                    generation: {$ref: '#/components/schemas/Generation'}
          "400": {$ref: '#/components/responses/BadRequest'}
          "404": {$ref: '#/components/responses/NotFound'}
          "409": {$ref: '#/components/responses/Conflict'}
          default: {$ref: '#/components/responses/Error'}
        """,
}
