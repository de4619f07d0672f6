"""The contract every cart adapter passes against its emulator, over a real socket.

A kind's test module subclasses `CartContract` (pytest collects it as `TestXxxContract`) and
fills in the hooks. The tests then check what any adapter must do, whatever its platform:
page to the end, turn 401 into AuthError, 429 into RateLimited with the server's Retry-After,
5xx into TransientError, yield an unreadable order as BadPayload while reading the rest, and
never show a secret in a log line or a repr.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from cartrover.adapters import AuthError, BadPayload, CartOrder, RateLimited, TransientError
from carts.adapters.base import CartAdapter


class CartContract:
    #: How many orders make several pages with the adapter the hook builds.
    orders_for_paging: int = 30

    # --- hooks -------------------------------------------------------------------------------

    def start_emulator(self) -> Any:
        """Start the platform's emulator on 127.0.0.1 and return it."""
        raise NotImplementedError

    def make_adapter(self, emulator: Any, *, wrong_credentials: bool = False) -> CartAdapter:
        """Return the adapter pointed at the emulator, paging small enough to page."""
        raise NotImplementedError

    def add_orders(self, emulator: Any, count: int) -> list[str]:
        """Create orders the adapter will download; return their external ids."""
        raise NotImplementedError

    def corrupt_order(self, emulator: Any, external_id: str) -> None:
        """Make one order unreadable for the adapter (a required field of the wrong type)."""
        raise NotImplementedError

    def fail_next(self, emulator: Any, status: int, *, retry_after: str | None = None) -> None:
        """Make the emulator answer the next request with `status` (and Retry-After)."""
        raise NotImplementedError

    def secrets(self, adapter: CartAdapter) -> list[str]:
        """Return the secret values the adapter holds."""
        return [str(v) for v in adapter.credentials.values() if v]

    # --- fixtures ----------------------------------------------------------------------------

    @pytest.fixture
    def emulator(self, settings):
        settings.ALLOW_PRIVATE_NETWORK_TARGETS = True
        emulator = self.start_emulator()
        try:
            yield emulator
        finally:
            emulator.stop()

    # --- the contract --------------------------------------------------------------------------

    def test_fetch_pages_to_the_end_without_duplicates(self, emulator):
        expected = self.add_orders(emulator, self.orders_for_paging)
        fetched = [o for o in self.make_adapter(emulator).fetch_orders(None)]
        ids = [o.external_id for o in fetched if isinstance(o, CartOrder)]
        assert sorted(ids) == sorted(expected)
        assert len(ids) == len(set(ids))

    def test_refused_credentials_raise_auth_error(self, emulator):
        self.add_orders(emulator, 1)
        with pytest.raises(AuthError):
            list(self.make_adapter(emulator, wrong_credentials=True).fetch_orders(None))

    def test_test_connection_names_the_problem_with_wrong_credentials(self, emulator):
        with pytest.raises(AuthError) as refused:
            self.make_adapter(emulator, wrong_credentials=True).test_connection()
        assert len(refused.value.message) > 20
        assert self.make_adapter(emulator).test_connection()

    def test_429_raises_rate_limited_with_the_servers_retry_after(self, emulator):
        self.add_orders(emulator, 1)
        self.fail_next(emulator, 429, retry_after="7")
        with pytest.raises(RateLimited) as limited:
            list(self.make_adapter(emulator).fetch_orders(None))
        assert limited.value.retry_after == pytest.approx(7)

    def test_server_errors_raise_transient_error(self, emulator):
        self.add_orders(emulator, 1)
        self.fail_next(emulator, 503)
        with pytest.raises(TransientError):
            list(self.make_adapter(emulator).fetch_orders(None))

    def test_an_unreadable_order_is_yielded_as_bad_payload_and_the_rest_read(self, emulator):
        ids = self.add_orders(emulator, 4)
        self.corrupt_order(emulator, ids[1])
        items = list(self.make_adapter(emulator).fetch_orders(None))
        bad = [i for i in items if isinstance(i, BadPayload)]
        good = [i.external_id for i in items if isinstance(i, CartOrder)]
        assert [b.external_id for b in bad] == [ids[1]]
        assert bad[0].raw is not None
        assert sorted(good) == sorted(ids[:1] + ids[2:])

    def test_secrets_never_appear_in_logs_errors_or_reprs(self, emulator, caplog):
        self.add_orders(emulator, 2)
        adapter = self.make_adapter(emulator)
        with caplog.at_level(logging.DEBUG):
            list(adapter.fetch_orders(None))
            self.fail_next(emulator, 401)
            with pytest.raises(AuthError) as refused:
                list(adapter.fetch_orders(None))
        shown = caplog.text + repr(adapter) + str(refused.value)
        for secret in self.secrets(adapter):
            assert secret not in shown
