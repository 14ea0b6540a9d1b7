"""App roles: AppRoleAssignmentsComplex and SingleAppRoleAssignment read the job's
assignments. The role shape is the one Microsoft's "Tutorial - Customize user provisioning
attribute-mappings for SaaS applications in Microsoft Entra ID" shows for SCIM apps
(https://learn.microsoft.com/en-us/entra/identity/app-provisioning/customize-application-attributes)."""

from __future__ import annotations

import pytest

from relay.engine.exceptions import ExpressionSyntaxError
from relay.engine.expressions import compile_expression
from relay.engine.source import AppRoleAssignment
from tests.relay.engine.expressions.helpers import entra_user

ROLES = (AppRoleAssignment("Admin"), AppRoleAssignment("User", display_name="Plain user"))


def test_complex_gives_every_role_as_a_scim_role():
    expression = compile_expression("AppRoleAssignmentsComplex([appRoleAssignments])")
    assert expression.evaluate(entra_user(app_roles=ROLES)) == [
        {
            "primary": False,
            "type": "WindowsAzureActiveDirectoryRole",
            "display": "Admin",
            "value": "Admin",
        },
        {
            "primary": False,
            "type": "WindowsAzureActiveDirectoryRole",
            "display": "Plain user",
            "value": "User",
        },
    ]
    assert expression.evaluate(entra_user()) is None


def test_single_gives_the_first_role():
    expression = compile_expression("SingleAppRoleAssignment([appRoleAssignments])")
    assert expression.evaluate(entra_user(app_roles=ROLES)) == "Admin"
    assert expression.evaluate(entra_user()) is None


def test_the_argument_must_be_the_assignments():
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression("SingleAppRoleAssignment([department])")
    assert caught.value.position == 24
    assert (
        caught.value.expected == "[appRoleAssignments] as the argument of SingleAppRoleAssignment"
    )
