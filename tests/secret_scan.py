"""A pytest plugin: fail any test during which a secret the suite uses reached a log record.

For each test (in every xdist worker) a handler on the root logger, with the root at DEBUG,
keeps the text of every record (message, exception and stack) of the setup, call and teardown
phases; the other root handlers keep the level they had, so logs shown for failures and
`caplog` see what they saw before. At the end of the teardown the records are searched for:

- the credentials the sandbox emulators and `tests/factories.py` use;
- module constants of the test's module named like a secret (`PASSWORD`, `*_SECRET`,
  `*_TOKEN`, `*_PASSPHRASE`, `*_API_KEY`);
- every secret stored in the database when the test body ended: the secret credential fields
  of cart and WMS connections as their kind declares them, and webhook signing secrets;
- API key secrets, recognized by their SHA-256 against the stored keys;
- anything a test registers with `register_secret`.

A secret found fails the test's teardown with the test, the logger, the level and the line
(the secret itself shown only by its first characters). Output of subprocesses is not seen.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import sys
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

# Shorter values are too likely to be ordinary words in a log line.
MIN_SECRET_LENGTH = 8
SECRET_NAME = re.compile(r"^(?:[A-Z0-9_]*_)?(PASSWORD|SECRET|TOKEN|PASSPHRASE|API_KEY)$")
SECRET_KEY_NAME = re.compile(r"pass|secret|token|private_key|api_key", re.IGNORECASE)
API_KEY_SECRET = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")
# factory_boy logs the arguments it builds test rows with (the factories' password): it is
# the test data builder, never part of the product.
IGNORED_LOGGERS = ("factory",)
SANDBOX_SECRETS = (
    ("sandbox.shopify", ("SANDBOX_ACCESS_TOKEN", "SANDBOX_CLIENT_SECRET")),
    ("sandbox.woocommerce", ("SANDBOX_CONSUMER_SECRET",)),
    ("sandbox.bigcommerce", ("SANDBOX_ACCESS_TOKEN",)),
    ("sandbox.extensiv", ("SANDBOX_CLIENT_SECRET",)),
    ("tests.factories", ("PASSWORD",)),
)

_registered: dict[str, str] = {}


def register_secret(value: str, origin: str = "registered by the test") -> None:
    """Watch for `value` in the log records of the running test."""
    if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
        _registered.setdefault(value, origin)


@dataclass
class Line:
    """One log record as text, with where it came from."""

    logger: str
    level: str
    phase: str
    text: str


@dataclass
class Leak:
    secret: str
    origin: str
    line: Line

    def describe(self) -> str:
        shown = self.line.text.replace(self.secret, f"{self.secret[:3]}…[{self.origin}]")
        return (
            f"{self.origin} ({self.secret[:3]}…) in a {self.line.level} record of logger "
            f"{self.line.logger!r} during {self.line.phase}: {shown[:300]}"
        )


def record_text(record: logging.LogRecord) -> str:
    """Return everything a formatter could print of `record`."""
    try:
        parts = [record.getMessage()]
    except Exception:  # a broken format string must not break the test that logged it
        parts = [str(record.msg), repr(record.args)]
    if record.exc_info and record.exc_info[1] is not None:
        parts.append("".join(traceback.format_exception(*record.exc_info)))
    elif record.exc_text:
        parts.append(record.exc_text)
    if record.stack_info:
        parts.append(record.stack_info)
    return "\n".join(parts)


class CaptureHandler(logging.Handler):
    """Keep the text of every record it handles."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[Line] = []
        self.phase = "setup"

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in IGNORED_LOGGERS:
            return
        self.lines.append(Line(record.name, record.levelname, self.phase, record_text(record)))


def find_leaks(
    lines: Iterable[Line], secrets: dict[str, str], api_key_hashes: Iterable[str] = ()
) -> list[Leak]:
    """Return every occurrence of a known secret (or a stored API key's secret) in `lines`."""
    hashes = set(api_key_hashes)
    leaks = []
    for line in lines:
        for secret, origin in secrets.items():
            if secret in line.text:
                leaks.append(Leak(secret, origin, line))
        if hashes:
            for token in API_KEY_SECRET.findall(line.text):
                if hashlib.sha256(token.encode()).hexdigest() in hashes:
                    leaks.append(Leak(token, "an API key's secret", line))
    return leaks


@functools.cache
def static_secrets() -> dict[str, str]:
    """Return the sandbox's and the factories' credentials."""
    found: dict[str, str] = {}
    for module_name, names in SANDBOX_SECRETS:
        module = sys.modules.get(module_name)
        if module is None:
            try:
                module = __import__(module_name, fromlist=["_"])
            except ImportError:
                continue
        for name in names:
            value = getattr(module, name, None)
            if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
                found[value] = f"{module_name}.{name}"
    return found


def module_secrets(module: Any) -> dict[str, str]:
    """Return the constants of a test module named like secrets."""
    found = {}
    for name, value in vars(module or object()).items():
        is_text = isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH
        if SECRET_NAME.match(name) and is_text:
            found[value] = f"{module.__name__}.{name}"
    return found


def _secret_fields(registry: Any, kind: str) -> set[str] | None:
    try:
        adapter_class = registry.adapter_class(kind)
    except Exception:  # an unknown or broken kind: fall back on the field names
        return None
    return {spec.name for spec in getattr(adapter_class, "credential_fields", []) if spec.secret}


def _values(credentials: dict[str, Any], secret_names: set[str] | None) -> Iterator[str]:
    for name, value in credentials.items():
        declared = secret_names is not None and name in secret_names
        is_text = isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH
        if (declared or SECRET_KEY_NAME.search(name)) and is_text:
            yield value


def stored_secrets() -> tuple[dict[str, str], set[str]]:
    """Return the secrets stored in the test database and the hashes of API key secrets."""
    from api.models import ApiKey, WebhookEndpoint
    from carts.adapters import CART_KINDS
    from carts.models import CartConnection
    from wms.adapters import WMS_KINDS
    from wms.models import WmsConfig

    found: dict[str, str] = {}
    for model, registry in ((CartConnection, CART_KINDS), (WmsConfig, WMS_KINDS)):
        label = model._meta.verbose_name
        for pk, kind, credentials in model.objects.values_list("pk", "kind", "credentials"):
            for value in _values(credentials, _secret_fields(registry, kind)):
                found.setdefault(value, f"a credential of {label} #{pk} ({kind})")
    for pk, secret in WebhookEndpoint.objects.values_list("pk", "secret"):
        for value in _values(secret, {"secret"}):
            found.setdefault(value, f"the signing secret of webhook endpoint #{pk}")
    hashes = set(ApiKey.objects.values_list("secret_hash", flat=True))
    return found, hashes


class SecretScan:
    """The per-test state of the plugin."""

    def __init__(self) -> None:
        self.handler: CaptureHandler | None = None
        self.saved: list[tuple[logging.Handler, int]] = []
        self.root_level = logging.WARNING
        self.secrets: dict[str, str] = {}
        self.api_key_hashes: set[str] = set()

    def start_phase(self, phase: str) -> None:
        root = logging.getLogger()
        if self.handler is None:
            self.handler = CaptureHandler()
        self.handler.phase = phase
        self.root_level = root.level
        # Other handlers keep seeing only what the configured level lets through.
        self.saved = []
        for handler in root.handlers:
            if handler.level == logging.NOTSET:
                self.saved.append((handler, handler.level))
                handler.setLevel(root.level)
        root.addHandler(self.handler)
        root.setLevel(logging.DEBUG)

    def end_phase(self) -> None:
        root = logging.getLogger()
        if self.handler is not None:
            root.removeHandler(self.handler)
        root.setLevel(self.root_level)
        for handler, level in self.saved:
            handler.setLevel(level)
        self.saved = []

    def collect_stored(self) -> None:
        try:
            found, hashes = stored_secrets()
        except Exception:  # no database for this test, or it left its transaction broken
            return
        for value, origin in found.items():
            self.secrets.setdefault(value, origin)
        self.api_key_hashes |= hashes

    def leaks(self, item: pytest.Item) -> list[Leak]:
        secrets = {**static_secrets(), **module_secrets(getattr(item, "module", None))}
        secrets.update(self.secrets)
        secrets.update(_registered)
        lines = self.handler.lines if self.handler is not None else []
        return find_leaks(lines, secrets, self.api_key_hashes)


_scans: dict[str, SecretScan] = {}


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    _registered.clear()
    scan = _scans[item.nodeid] = SecretScan()
    scan.start_phase("setup")
    try:
        return (yield)
    finally:
        scan.end_phase()


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    scan = _scans.setdefault(item.nodeid, SecretScan())
    scan.start_phase("call")
    try:
        return (yield)
    finally:
        # The test's rows are still there: its transaction is rolled back in teardown.
        scan.collect_stored()
        scan.end_phase()


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    scan = _scans.setdefault(item.nodeid, SecretScan())
    scan.start_phase("teardown")
    try:
        result = yield
    finally:
        scan.end_phase()
        _scans.pop(item.nodeid, None)
    leaks = scan.leaks(item)
    _registered.clear()
    if leaks:
        listed = "\n  ".join(leak.describe() for leak in leaks[:10])
        more = f"\n  … and {len(leaks) - 10} more" if len(leaks) > 10 else ""
        pytest.fail(
            f"{item.nodeid}: a secret reached the logs ({len(leaks)} time(s)):\n  {listed}{more}",
            pytrace=False,
        )
    return result
