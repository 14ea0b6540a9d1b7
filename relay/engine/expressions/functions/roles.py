"""App roles: AppRoleAssignmentsComplex, SingleAppRoleAssignment.

In Entra ID these read the user's appRoleAssignments to the enterprise application. Hatchway
has no enterprise applications: a job assigns users and groups to its app, each assignment
with an optional role, and these functions read those assignments (``Source.app_roles``).
The argument must be the reference ``[appRoleAssignments]``, as in Entra ID.
"""

from __future__ import annotations

from typing import Any

from relay.engine.exceptions import ExpressionSyntaxError
from relay.engine.expressions.nodes import Attribute
from relay.engine.expressions.signature import Arguments, Evaluator, Function, Param

ROLE_TYPE = "WindowsAzureActiveDirectoryRole"
"""The SCIM role type Entra ID sends; kept so apps configured for Entra ID accept it."""


def _needs_assignments(arguments: Arguments) -> None:
    node = arguments.nodes[0]
    if not isinstance(node, Attribute) or node.reference.strip().casefold() != "approleassignments":
        raise ExpressionSyntaxError(
            node.position,
            f"[appRoleAssignments] as the argument of {arguments.call.name}",
            "another argument",
        )


def _complex(arguments: Arguments) -> Evaluator:
    def evaluate(obj: Any, context: Any) -> list[dict[str, Any]] | None:
        roles = [
            {
                "primary": False,
                "type": ROLE_TYPE,
                "display": a.display_name or a.role,
                "value": a.role,
            }
            for a in obj.app_roles
            if a.role
        ]
        return roles or None

    return evaluate


def _single(arguments: Arguments) -> Evaluator:
    def evaluate(obj: Any, context: Any) -> str | None:
        return next((a.role for a in obj.app_roles if a.role), None)

    return evaluate


ASSIGNMENTS = Param("[appRoleAssignments]")

FUNCTIONS = (
    Function(
        "AppRoleAssignmentsComplex",
        (ASSIGNMENTS,),
        _complex,
        "Every app role of the object's assignments to the job, as SCIM roles: "
        '{"primary": false, "type": "WindowsAzureActiveDirectoryRole", "display", "value"}.',
        "AppRoleAssignmentsComplex([appRoleAssignments])",
        check=_needs_assignments,
        notes="Reads the job's assignments (with their roles) instead of Entra ID's "
        "enterprise-application assignments; null when the object has no role.",
    ),
    Function(
        "SingleAppRoleAssignment",
        (ASSIGNMENTS,),
        _single,
        "The role value of the object's (first) assignment to the job.",
        "SingleAppRoleAssignment([appRoleAssignments])",
        check=_needs_assignments,
        notes="With several roles, the first assignment's role is used (Entra ID does not "
        "say which).",
    ),
)
