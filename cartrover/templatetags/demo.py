"""Template tags of the demo: its logins and emulated systems on the login page."""

from __future__ import annotations

from django import template

from cartrover.demo import DemoLogin, DemoSystem, demo_logins, demo_systems

register = template.Library()


@register.simple_tag
def demo_login_list() -> list[DemoLogin]:
    """Return the demo's logins while the demo runs, else nothing."""
    return demo_logins()


@register.simple_tag
def demo_system_list() -> list[DemoSystem]:
    """Return the demo's emulated shops and warehouse."""
    return demo_systems()
