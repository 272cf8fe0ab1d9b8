"""`TabCoordinator` (roost.ui.tabs): one tab per account, in CPython.

The lock is `FakeTabs`, an in-memory stand-in for the browser's Web Locks
and BroadcastChannel with `roost.platform.tabs.TabLock`'s contract (that one
is tested in Chromium, tests/platform/test_tabs_browser.py): grants,
messages and callbacks are queued as tasks and run by `FakeTabs.run()`.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from roost.ui.tabs import WAITING, TabCoordinator, account_key

ALICE = "alice@example.org"
BOB = "bob@example.org"


class FakeTabs:
    """The browser: who holds which account's lock, who waits, and the channel."""

    def __init__(self) -> None:
        self.tasks: list[Callable[[], object]] = []
        self.owner: dict[str, FakeLock] = {}
        self.waiting: dict[str, list[FakeLock]] = {}
        self.locks: list[FakeLock] = []
        self.posted: list[str] = []

    def soon(self, fn: Callable[[], object]) -> None:
        self.tasks.append(fn)

    def run(self) -> None:
        while self.tasks:
            self.tasks.pop(0)()

    def grant(self, account: str) -> None:
        queue = self.waiting.get(account) or []
        if account not in self.owner and queue:
            lock = queue.pop(0)
            self.owner[account] = lock
            self.soon(lambda: lock.granted(account))

    def post(self, sender: FakeLock, account: str) -> None:
        self.posted.append(account)
        for lock in self.locks:
            if lock is not sender:
                self.soon(lambda lock=lock: lock.message(account))  # type: ignore[misc]


class FakeLock:
    """TabLock's surface over `FakeTabs`."""

    def __init__(self, tabs: FakeTabs) -> None:
        self.tabs = tabs
        self.held: str | None = None
        self.pending: str | None = None
        self._on_owned: Callable[[], object] | None = None
        self._on_release: Callable[[str], object] | None = None
        tabs.locks.append(self)

    def on_release_request(self, callback: Callable[[str], object] | None) -> None:
        self._on_release = callback

    def claim(
        self, account: str, on_owned: Callable[[], object], on_busy: Callable[[], object]
    ) -> None:
        account = account.lower()
        if self.held == account:
            self.tabs.soon(on_owned)
            return
        self.release()
        if account in self.tabs.owner:
            self.tabs.soon(on_busy)
            return
        self.tabs.owner[account] = self
        self.held = account
        self.tabs.soon(on_owned)

    def take_over(self, account: str, on_owned: Callable[[], object]) -> None:
        account = account.lower()
        if self.held == account:
            self.tabs.soon(on_owned)
            return
        if self.pending == account:
            self.tabs.post(self, account)
            return
        self.release()
        self.pending = account
        self._on_owned = on_owned
        self.tabs.waiting.setdefault(account, []).append(self)
        self.tabs.grant(account)
        self.tabs.post(self, account)

    def granted(self, account: str) -> None:
        self.pending = None
        self.held = account
        on_owned, self._on_owned = self._on_owned, None
        assert on_owned is not None
        on_owned()

    def release(self) -> None:
        if self.held is not None:
            account, self.held = self.held, None
            del self.tabs.owner[account]
            self.tabs.grant(account)
        if self.pending is not None:
            self.tabs.waiting[self.pending].remove(self)
            self.pending = None
            self._on_owned = None

    def message(self, account: str) -> None:
        if account not in (self.held, self.pending):
            return
        if self._on_release is None:
            self.release()
        else:
            self._on_release(account)

    def close(self) -> None:
        """The page went away: the browser frees its lock."""
        self.release()
        self.tabs.locks.remove(self)


class Tab:
    """One tab: a coordinator, its panel's state, and what the app was told."""

    def __init__(self, tabs: FakeTabs) -> None:
        self.lock = FakeLock(tabs)
        self.panel: str | None = None  # the status line while shown
        self.calls: list[str] = []
        self.coordinator = TabCoordinator(self.lock, self._show, self._hide)
        self.coordinator.set_step_aside(lambda: self.calls.append("step aside"))
        self.coordinator.set_resume(lambda: self.calls.append("resume"))

    def _show(self, status: str) -> None:
        self.panel = status

    def _hide(self) -> None:
        assert self.panel is not None, "hidden while not shown"
        self.panel = None

    def login(self, account: str) -> None:
        self.coordinator.before_login(account, lambda: self.calls.append("login " + account))


@pytest.fixture
def tabs() -> FakeTabs:
    return FakeTabs()


def test_first_tab_logs_in_at_once(tabs: FakeTabs) -> None:
    one = Tab(tabs)
    one.login(ALICE)
    tabs.run()
    assert one.calls == ["login " + ALICE]
    assert one.panel is None
    assert one.coordinator.owner
    assert tabs.posted == []


def test_second_tab_is_busy_until_use_here(tabs: FakeTabs) -> None:
    one, two = Tab(tabs), Tab(tabs)
    one.login(ALICE)
    tabs.run()
    two.login("Alice@Example.org")
    tabs.run()
    assert two.calls == []
    assert two.panel == ""
    assert not two.coordinator.owner
    assert tabs.posted == []  # a login never pushes the owner out by itself

    two.coordinator.use_here()
    assert two.panel == WAITING
    tabs.run()
    assert one.calls == ["login " + ALICE, "step aside"]
    assert one.panel == ""
    assert not one.coordinator.owner
    assert two.calls == ["login Alice@Example.org"]
    assert two.panel is None
    assert two.coordinator.owner


def test_the_tab_that_stepped_aside_takes_it_back_and_resumes(tabs: FakeTabs) -> None:
    one, two = Tab(tabs), Tab(tabs)
    one.login(ALICE)
    tabs.run()
    two.login(ALICE)
    tabs.run()
    two.coordinator.use_here()
    tabs.run()
    one.coordinator.use_here()
    tabs.run()
    assert one.calls == ["login " + ALICE, "step aside", "resume"]
    assert one.panel is None
    assert two.calls == ["login " + ALICE, "step aside"]
    assert two.panel == ""
    # And once more the other way: the login that waited is not run twice.
    two.coordinator.use_here()
    tabs.run()
    assert two.calls == ["login " + ALICE, "step aside", "resume"]


def test_step_aside_happens_before_the_lock_goes(tabs: FakeTabs) -> None:
    one, two = Tab(tabs), Tab(tabs)
    seen: list[object] = []
    one.coordinator.set_step_aside(lambda: seen.append(tabs.owner.get(ALICE) is one.lock))
    one.login(ALICE)
    tabs.run()
    two.login(ALICE)
    tabs.run()
    two.coordinator.use_here()
    tabs.run()
    assert seen == [True]


def test_a_failing_step_aside_still_releases(tabs: FakeTabs) -> None:
    one, two = Tab(tabs), Tab(tabs)

    def broken() -> None:
        raise RuntimeError("disconnect failed")

    one.coordinator.set_step_aside(broken)
    one.login(ALICE)
    tabs.run()
    two.login(ALICE)
    tabs.run()
    two.coordinator.use_here()
    with pytest.raises(RuntimeError):
        tabs.run()
    assert one.panel == ""
    tabs.run()
    assert two.coordinator.owner


def test_the_last_use_here_wins(tabs: FakeTabs) -> None:
    one, two, three = Tab(tabs), Tab(tabs), Tab(tabs)
    one.coordinator.set_step_aside(lambda: None)
    one.login(ALICE)
    tabs.run()
    two.login(ALICE)
    three.login(ALICE)
    tabs.run()
    # One's release request handler is slow: both others ask before it lets go.
    one.lock.on_release_request(lambda account: None)
    two.coordinator.use_here()
    tabs.run()
    three.coordinator.use_here()
    tabs.run()
    assert two.panel == ""  # stopped waiting, "Use here" again
    assert three.panel == WAITING
    one.lock.release()
    tabs.run()
    assert three.coordinator.owner and three.panel is None
    assert three.calls == ["login " + ALICE]
    assert two.calls == []


def test_use_here_twice_asks_again(tabs: FakeTabs) -> None:
    one, two = Tab(tabs), Tab(tabs)
    one.login(ALICE)
    tabs.run()
    two.login(ALICE)
    tabs.run()
    one.lock.on_release_request(lambda account: None)  # missed it
    two.coordinator.use_here()
    tabs.run()
    one.lock.on_release_request(one.coordinator._on_release_request)
    two.coordinator.use_here()
    tabs.run()
    assert tabs.posted == [ALICE, ALICE]
    assert two.coordinator.owner
    assert two.calls == ["login " + ALICE]


def test_closing_the_owner_lets_the_waiting_tab_in(tabs: FakeTabs) -> None:
    one, two = Tab(tabs), Tab(tabs)
    one.login(ALICE)
    tabs.run()
    one.lock.on_release_request(lambda account: None)
    two.login(ALICE)
    tabs.run()
    two.coordinator.use_here()
    tabs.run()
    assert two.panel == WAITING
    one.lock.close()
    tabs.run()
    assert two.calls == ["login " + ALICE]
    assert two.panel is None


def test_accounts_do_not_interfere(tabs: FakeTabs) -> None:
    one, two = Tab(tabs), Tab(tabs)
    one.login(ALICE)
    two.login(BOB)
    tabs.run()
    assert one.calls == ["login " + ALICE]
    assert two.calls == ["login " + BOB]
    three = Tab(tabs)
    three.login(BOB)
    tabs.run()
    three.coordinator.use_here()
    tabs.run()
    assert one.calls == ["login " + ALICE]
    assert one.panel is None
    assert two.calls == ["login " + BOB, "step aside"]


def test_logging_in_again_in_the_owner_tab(tabs: FakeTabs) -> None:
    one = Tab(tabs)
    one.login(ALICE)
    tabs.run()
    one.login(ALICE)  # e.g. after a wrong password
    tabs.run()
    assert one.calls == ["login " + ALICE, "login " + ALICE]
    one.login(BOB)  # another account frees the first one
    tabs.run()
    assert tabs.owner == {BOB: one.lock}
    assert one.calls[-1] == "login " + BOB


def test_logout_frees_the_account_and_hides_the_panel(tabs: FakeTabs) -> None:
    one, two = Tab(tabs), Tab(tabs)
    one.login(ALICE)
    tabs.run()
    two.login(ALICE)
    tabs.run()
    two.coordinator.logout()  # logging out from behind the panel
    assert two.panel is None
    one.coordinator.logout()
    assert tabs.owner == {}
    two.login(ALICE)
    tabs.run()
    assert two.calls == ["login " + ALICE]


def test_a_grant_after_logout_is_ignored(tabs: FakeTabs) -> None:
    one = Tab(tabs)
    one.login(ALICE)
    one.coordinator.logout()
    tabs.run()
    assert one.calls == []
    assert tabs.owner == {}


def test_use_here_without_an_account_or_as_owner_does_nothing(tabs: FakeTabs) -> None:
    one = Tab(tabs)
    one.coordinator.use_here()
    one.login(ALICE)
    tabs.run()
    one.coordinator.use_here()
    tabs.run()
    assert tabs.posted == []
    assert one.panel is None


def test_requests_for_another_account_are_ignored(tabs: FakeTabs) -> None:
    one = Tab(tabs)
    one.login(ALICE)
    tabs.run()
    one.coordinator._on_release_request(BOB)
    assert one.coordinator.owner
    assert one.calls == ["login " + ALICE]


@pytest.mark.parametrize(
    ("typed", "domain", "key"),
    [
        ("alice@example.org", "", "alice@example.org"),
        ("  Alice@Example.ORG ", "", "alice@example.org"),
        ("alice@example.org/phone", "", "alice@example.org"),
        ("alice", "Example.org", "alice@example.org"),
        ("alice", "", "alice"),
        ("alice@other.net", "example.org", "alice@other.net"),
    ],
)
def test_account_key(typed: str, domain: str, key: str) -> None:
    assert account_key(typed, domain) == key
