"""Bundle templates/ and environments.yaml inside the wheel, but not an editable install.

A built wheel carries them under ``shipyard/_resources`` so an installed Shipyard finds
them anywhere; an editable install reads them from the checkout instead (see
``shipyard.resources``), so edits to a template show up without reinstalling.
"""

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

RESOURCES = {
    "templates": "shipyard/_resources/templates",
    "environments.yaml": "shipyard/_resources/environments.yaml",
}


class BundleResourcesHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "standard":
            build_data["force_include"].update(RESOURCES)
